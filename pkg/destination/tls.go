package destination

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// TLSConfig is the listener's: TLS 1.3, the service's own workload leaf that leaves keeps
// renewed (from the identity service, as a proxy gets its own: the service never holds the
// issuer's key), and a client certificate required of every caller, checked against leaves'
// current trust bundle and required to be in trustDomain. Proxies present their workload
// leaf; what this cluster's Services are is not told to anyone else, not even to another
// cluster's proxies under the same anchor.
func TLSConfig(leaves *certs.Manager, trustDomain string, now func() time.Time) *tls.Config {
	if now == nil {
		now = time.Now
	}
	// The manager's server side serves its current leaf; what it asks of clients is the
	// proxies' inbound policy (a certificate optional), not this service's.
	c := leaves.ServerConfig()
	c.NextProtos = []string{"h2"}
	// Any certificate is asked for, and VerifyConnection checks it: SPIFFE identities against
	// the bundle, not host names against the system roots.
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no client certificate: present the proxy's workload certificate")
		}
		bundle := leaves.Bundle()
		if bundle == nil {
			return errors.New("no trust bundle loaded yet: the trust bundle ConfigMap has not been read")
		}
		id, err := bundle.Verify(cs.PeerCertificates[0], cs.PeerCertificates[1:], now())
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
