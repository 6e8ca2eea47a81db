package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// CertStore holds the webhook's serving certificate, taken from a kubernetes.io/tls Secret
// (as cert-manager writes it) and swapped whole when the Secret changes: each handshake
// reads it once.
type CertStore struct {
	cert atomic.Pointer[tls.Certificate]
}

// Load takes the certificate in a Secret's data if it is sound; otherwise the current one
// stays, so a bad renewal does not stop the webhook from serving.
func (s *CertStore) Load(data map[string][]byte, now time.Time) (*x509.Certificate, error) {
	if len(data[corev1.TLSCertKey]) == 0 || len(data[corev1.TLSPrivateKeyKey]) == 0 {
		return nil, fmt.Errorf("no %s or %s: the Secret must be a kubernetes.io/tls Secret, as cert-manager's Certificate makes it", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	cert, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	if now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("the certificate expired at %s: check its cert-manager Certificate", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	s.cert.Store(&cert)
	return cert.Leaf, nil
}

// Loaded reports whether a certificate has been taken.
func (s *CertStore) Loaded() bool { return s.cert.Load() != nil }

// TLSConfig is the listener's: TLS 1.3 only, with the current certificate.
func (s *CertStore) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := s.cert.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no serving certificate loaded yet")
		},
	}
}
