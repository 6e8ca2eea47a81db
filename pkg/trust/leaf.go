package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"time"
)

// IssueLeaf makes a key and signs a leaf for id with it, as if a workload had sent a CSR: for
// a control-plane server's own certificate, and for tests. Workloads make their own keys and
// send CSRs; this is not for them.
func (ca *CA) IssueLeaf(id ID, ttl time.Duration, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := NewCSR(key, id)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := ca.SignLeaf(csr, id, ttl, now)
	if err != nil {
		return nil, nil, err
	}
	return leaf, key, nil
}
