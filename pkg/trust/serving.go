package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// SignServing makes a TLS serving certificate for dnsNames, signed by ca, with a fresh P-256
// key: for a server whose client is no workload of the mesh, such as the injector's webhook,
// which the apiserver calls and checks against a caBundle. It carries no SPIFFE identity.
// It is valid from now for validity, but not after ca.
func (ca *CA) SignServing(dnsNames []string, validity time.Duration, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if len(dnsNames) == 0 {
		return nil, nil, errors.New("serving certificate: no DNS name: name the Service it serves as, such as name.namespace.svc")
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("serving certificate for %s: validity %s is not positive", dnsNames[0], validity)
	}
	if err := ca.usable(now); err != nil {
		return nil, nil, fmt.Errorf("serving certificate for %s: %w", dnsNames[0], err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("serving certificate for %s: generating its key: %w", dnsNames[0], err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, fmt.Errorf("serving certificate for %s: %w", dnsNames[0], err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              ca.capNotAfter(now.Add(validity)),
		DNSNames:              dnsNames,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	cert, err := createCertificate(tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("serving certificate for %s: %w", dnsNames[0], err)
	}
	return cert, key, nil
}
