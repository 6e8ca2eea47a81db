package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/url"
)

// MaxCSRBytes bounds a CSR read off the network: a P-256 CSR with one URI is about 300
// bytes, so anything near this is not one of ours.
const MaxCSRBytes = 4096

// ParseCSR parses a DER CSR as it comes off the network and checks it strictly: at most
// MaxCSRBytes, signature valid, ECDSA P-256 key, exactly one URI SAN that is a valid ID, no
// DNS/IP/email SANs, no other extensions requested than SANs. It returns the CSR and the ID
// it asks for. Errors say what is wrong; the identity service returns them to the proxy as
// InvalidArgument.
func ParseCSR(der []byte) (*x509.CertificateRequest, ID, error) {
	if len(der) == 0 {
		return nil, ID{}, errors.New("the CSR is empty: send a DER certificate request")
	}
	if len(der) > MaxCSRBytes {
		return nil, ID{}, fmt.Errorf("the CSR is %d bytes long: at most %d are accepted", len(der), MaxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, ID{}, fmt.Errorf("the CSR does not parse as DER: %w", err)
	}
	if err := checkCSRKey(csr); err != nil {
		return nil, ID{}, err
	}
	switch csr.SignatureAlgorithm {
	case x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		return nil, ID{}, fmt.Errorf("the CSR is signed with %s: sign it with ECDSA-SHA256", csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, ID{}, fmt.Errorf("the CSR's signature does not verify: %w", err)
	}
	for _, e := range csr.Extensions {
		if !e.Id.Equal(oidSubjectAltName()) {
			return nil, ID{}, fmt.Errorf("the CSR requests the extension %s: request only a subjectAltName with the workload's spiffe ID; the rest is the issuer's to set", extensionName(e.Id))
		}
	}
	sans, err := parseSANs(csr.Extensions)
	if err != nil {
		return nil, ID{}, fmt.Errorf("the CSR: %w", err)
	}
	if len(sans.others) > 0 {
		return nil, ID{}, fmt.Errorf("the CSR asks for %s: ask for the workload's spiffe ID only, as a URI", sans.others[0])
	}
	if len(sans.uris) != 1 {
		return nil, ID{}, fmt.Errorf("the CSR asks for %d URIs: ask for exactly one, the workload's spiffe ID", len(sans.uris))
	}
	id, err := ParseID(sans.uris[0])
	if err != nil {
		return nil, ID{}, fmt.Errorf("the CSR's URI: %w", err)
	}
	return csr, id, nil
}

// NewCSR makes a DER CSR for id signed by key, which must be ECDSA P-256, as ParseCSR
// accepts it: proxies send it, tests make them.
func NewCSR(key *ecdsa.PrivateKey, id ID) ([]byte, error) {
	if key == nil {
		return nil, errors.New("CSR: no key")
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("CSR: the key is on %s: workloads' keys are P-256", key.Curve.Params().Name)
	}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("CSR for %s: %w", id, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		URIs:               []*url.URL{id.URL()},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("CSR for %s: %w", id, err)
	}
	return der, nil
}

// checkCSRKey checks that csr's key is ECDSA P-256, the only kind of workload key.
func checkCSRKey(csr *x509.CertificateRequest) error {
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("the CSR's key is %s: workloads' keys are ECDSA P-256", keyKind(csr.PublicKey))
	}
	if pub.Curve != elliptic.P256() {
		return fmt.Errorf("the CSR's key is ECDSA on %s: workloads' keys are ECDSA P-256", pub.Curve.Params().Name)
	}
	return nil
}

// extensionName names the extensions a CSR is likeliest to ask for, else gives the OID.
func extensionName(oid asn1.ObjectIdentifier) string {
	switch oid.String() {
	case "2.5.29.15":
		return "keyUsage (2.5.29.15)"
	case "2.5.29.37":
		return "extKeyUsage (2.5.29.37)"
	case "2.5.29.19":
		return "basicConstraints (2.5.29.19)"
	case "2.5.29.30":
		return "nameConstraints (2.5.29.30)"
	case "2.5.29.14":
		return "subjectKeyIdentifier (2.5.29.14)"
	}
	return oid.String()
}
