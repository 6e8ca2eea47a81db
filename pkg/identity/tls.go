package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshfed/meshfed/pkg/trust"
)

// ServingCertificate is the identity service's own certificate, for its gRPC listener: a leaf
// for the service's ServiceAccount from the current issuer, so proxies check it with the
// trust bundle like any peer. It is made again when the issuer changes or 70% of its life has
// passed.
type ServingCertificate struct {
	id      trust.ID
	issuers *IssuerStore
	now     func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	from    *Issuer
	renewAt time.Time
}

// NewServingCertificate returns the serving certificate of id, signed by the store's issuer.
func NewServingCertificate(id trust.ID, issuers *IssuerStore, now func() time.Time) *ServingCertificate {
	if now == nil {
		now = time.Now
	}
	return &ServingCertificate{id: id, issuers: issuers, now: now}
}

// TLSConfig is the listener's: TLS 1.3 only, this certificate, no client certificate asked
// (a workload has none yet; its token proves who it is).
func (s *ServingCertificate) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.Get() },
		NextProtos:     []string{"h2"},
	}
}

// Get returns the current certificate, making a new one first if it is due.
func (s *ServingCertificate) Get() (*tls.Certificate, error) {
	iss := s.issuers.Current()
	if iss == nil {
		return nil, errors.New("no issuer loaded yet")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert != nil && s.from == iss && now.Before(s.renewAt) {
		return s.cert, nil
	}
	cert, leaf, err := issueFor(iss.CA, s.id, DefaultLeafTTL, now)
	if err != nil {
		return nil, fmt.Errorf("serving certificate for %s: %w", s.id, err)
	}
	s.cert, s.from = cert, iss
	s.renewAt = now.Add(leaf.NotAfter.Sub(now) * 7 / 10)
	return cert, nil
}

// issueFor makes a key and a leaf for id signed by ca, as a tls.Certificate with its chain.
func issueFor(ca *trust.CA, id trust.ID, ttl time.Duration, now time.Time) (*tls.Certificate, *x509.Certificate, error) {
	leaf, key, err := ca.IssueLeaf(id, ttl, now)
	if err != nil {
		return nil, nil, err
	}
	chain := [][]byte{leaf.Raw, ca.Cert.Raw}
	for _, c := range ca.Chain {
		chain = append(chain, c.Raw)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, leaf, nil
}
