package destination

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/meshfed/meshfed/pkg/identity"
	"github.com/meshfed/meshfed/pkg/trust"
)

// TLSConfig is the listener's: TLS 1.3, serving's certificate (the service's own leaf from
// the cluster's issuer, as the identity service has), and a client certificate required of
// every caller, checked against the issuer's trust bundle and required to be in trustDomain.
// Proxies present their workload leaf; what this cluster's Services are is not told to
// anyone else, not even to another cluster's proxies under the same anchor.
func TLSConfig(serving *identity.ServingCertificate, issuers *identity.IssuerStore, trustDomain string, now func() time.Time) *tls.Config {
	if now == nil {
		now = time.Now
	}
	c := serving.TLSConfig()
	// Any certificate is asked for, and VerifyConnection checks it: SPIFFE identities against
	// the bundle, not host names against the system roots.
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no client certificate: present the proxy's workload certificate")
		}
		iss := issuers.Current()
		if iss == nil {
			return errors.New("no trust bundle loaded yet: the issuer Secret has not been read")
		}
		id, err := iss.Bundle.Verify(cs.PeerCertificates[0], cs.PeerCertificates[1:], now())
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		if id.TrustDomain != trustDomain {
			return fmt.Errorf("client %s is of trust domain %q; this destination service answers %q only", id, id.TrustDomain, trustDomain)
		}
		return nil
	}
	return c
}

// ServiceID is the destination service's own identity in trustDomain, as proxies expect it.
func ServiceID(trustDomain, namespace string) trust.ID {
	return trust.ID{TrustDomain: trustDomain, Namespace: namespace, ServiceAccount: ServiceAccount}
}
