package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// ClockSkew is how far back NotBefore is set on every certificate made here, so that a
// machine whose clock runs a little behind the signer's accepts it at once.
const ClockSkew = time.Minute

// CA is a signing certificate with its key: the anchor, or a cluster's issuer.
type CA struct {
	Cert  *x509.Certificate
	Key   *ecdsa.PrivateKey
	Chain []*x509.Certificate // certificates above Cert, up to but not including the anchor (empty for the anchor and for an issuer signed by it directly)
}

// NewAnchor makes a trust anchor: a self-signed ECDSA P-256 root valid from now for
// validity. It sets no path length limit, so that an intermediate may stand between it and
// the issuers (an organisation's own CA, say).
func NewAnchor(commonName string, validity time.Duration, now time.Time) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("anchor: the common name is empty: give one that tells anchors apart during a rotation, such as \"meshfed trust anchor 2026\"")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("anchor: validity %s is not positive: give how long the anchor lives, such as 87600h", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("anchor: generating its key: %w", err)
	}
	tmpl, err := caTemplate(commonName, &key.PublicKey, now, now.Add(validity))
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	cert, err := createCertificate(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// NewIssuer makes an intermediate CA signed by parent, valid from now for validity but not
// after parent (nor anything above it) expires. It may sign leaves only (path length 0).
func NewIssuer(parent *CA, commonName string, validity time.Duration, now time.Time) (*CA, error) {
	if err := parent.usable(now); err != nil {
		return nil, fmt.Errorf("issuer %q: %w", commonName, err)
	}
	if parent.Cert.MaxPathLen == 0 && parent.Cert.MaxPathLenZero {
		return nil, fmt.Errorf("issuer %q: %s may sign leaves only (path length 0), not an issuer: sign the issuer with the anchor", commonName, describe(parent.Cert))
	}
	if commonName == "" {
		return nil, errors.New("issuer: the common name is empty: give one naming the cluster, such as identity.west.meshfed")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("issuer %q: validity %s is not positive: give how long the issuer lives, such as 8760h", commonName, validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issuer %q: generating its key: %w", commonName, err)
	}
	tmpl, err := caTemplate(commonName, &key.PublicKey, now, parent.capNotAfter(now.Add(validity)))
	if err != nil {
		return nil, fmt.Errorf("issuer %q: %w", commonName, err)
	}
	tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	cert, err := createCertificate(tmpl, parent.Cert, &key.PublicKey, parent.Key)
	if err != nil {
		return nil, fmt.Errorf("issuer %q: %w", commonName, err)
	}
	var chain []*x509.Certificate
	if !isSelfSigned(parent.Cert) {
		chain = append([]*x509.Certificate{parent.Cert}, parent.Chain...)
	}
	return &CA{Cert: cert, Key: key, Chain: chain}, nil
}

// LoadCA loads a CA as cert-manager writes it in a kubernetes.io/tls Secret: tls.crt the CA
// certificate first, then the chain above it (a self-signed anchor at its end is dropped:
// the bundle carries anchors), and tls.key its key, PKCS#8 or SEC1.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("tls.crt: %w", err)
	}
	key, err := parseECKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls.key: %w", err)
	}
	c := certs[0]
	if !c.BasicConstraintsValid || !c.IsCA {
		return nil, fmt.Errorf("tls.crt: %s is not a CA (its basic constraints do not say CA:TRUE): give the issuer's or the anchor's certificate, not a leaf", describe(c))
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("tls.crt: %s may not sign certificates (its key usage lacks cert sign)", describe(c))
	}
	if !key.PublicKey.Equal(c.PublicKey) {
		return nil, fmt.Errorf("tls.key is not the key of %s, the first certificate of tls.crt: give the files of one CA", describe(c))
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return nil, fmt.Errorf("tls.crt: certificate %d (%s) is not signed by certificate %d (%s): write the CA first, then each certificate above it in order", i+1, describe(certs[i]), i+2, describe(certs[i+1]))
		}
	}
	chain := certs[1:]
	if n := len(chain); n > 0 && isSelfSigned(chain[n-1]) {
		chain = chain[:n-1]
	}
	if len(chain) == 0 {
		chain = nil
	}
	return &CA{Cert: c, Key: key, Chain: chain}, nil
}

// CertPEM returns Cert then Chain, as tls.crt holds them.
func (ca *CA) CertPEM() []byte {
	return EncodeCertificates(append([]*x509.Certificate{ca.Cert}, ca.Chain...)...)
}

// KeyPEM returns the key as PKCS#8, as cert-manager writes tls.key.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("encoding the key of %s: %w", describe(ca.Cert), err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// SignLeaf signs a workload leaf for id from csr's public key (P-256 only): URI SAN id
// only, ExtKeyUsage server and client auth, KeyUsage DigitalSignature, NotBefore
// now-ClockSkew, NotAfter min(now+ttl, ca.Cert.NotAfter). It does not trust the CSR's
// subject or extensions: only its key, whose possession the CSR's signature proves.
func (ca *CA) SignLeaf(csr *x509.CertificateRequest, id ID, ttl time.Duration, now time.Time) (*x509.Certificate, error) {
	if csr == nil {
		return nil, errors.New("signing a leaf: no CSR")
	}
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("signing a leaf for %s: %w", id, err)
	}
	if err := ca.usable(now); err != nil {
		return nil, fmt.Errorf("signing a leaf for %s: %w", id, err)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("signing a leaf for %s: ttl %s is not positive", id, ttl)
	}
	if err := checkCSRKey(csr); err != nil {
		return nil, fmt.Errorf("signing a leaf for %s: %w", id, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signing a leaf for %s: the CSR's signature does not verify, so it does not prove its key: %w", id, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("signing a leaf for %s: %w", id, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              ca.capNotAfter(now.Add(ttl)),
		URIs:                  []*url.URL{id.URL()},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	cert, err := createCertificate(tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing a leaf for %s: %w", id, err)
	}
	return cert, nil
}

// usable says why ca cannot sign at now, if it cannot.
func (ca *CA) usable(now time.Time) error {
	switch {
	case ca == nil || ca.Cert == nil || ca.Key == nil:
		return errors.New("the signing CA has no certificate or no key")
	case !ca.Cert.BasicConstraintsValid || !ca.Cert.IsCA:
		return fmt.Errorf("%s is not a CA", describe(ca.Cert))
	case !ca.Key.PublicKey.Equal(ca.Cert.PublicKey):
		return fmt.Errorf("the key given is not the key of %s", describe(ca.Cert))
	case now.Before(ca.Cert.NotBefore):
		return fmt.Errorf("%s is not valid before %s (is this machine's clock right?)", describe(ca.Cert), ca.Cert.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(ca.notAfter()):
		return fmt.Errorf("%s, or a certificate above it, expired at %s: renew it", describe(ca.Cert), ca.notAfter().UTC().Format(time.RFC3339))
	}
	return nil
}

// notAfter is when the first of Cert and Chain expires: nothing it signs is valid after.
func (ca *CA) notAfter() time.Time {
	t := ca.Cert.NotAfter
	for _, c := range ca.Chain {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// capNotAfter returns t, or ca's end if that comes first: a certificate outliving its
// issuer would stop verifying before its own NotAfter, which surprises whoever renews it.
func (ca *CA) capNotAfter(t time.Time) time.Time {
	if end := ca.notAfter(); end.Before(t) {
		return end
	}
	return t
}

// caTemplate is a CA certificate's template for key, valid from now to notAfter.
func caTemplate(commonName string, pub *ecdsa.PublicKey, now, notAfter time.Time) (*x509.Certificate, error) {
	if !notAfter.After(now) {
		return nil, fmt.Errorf("it would expire at %s, before it is made", notAfter.UTC().Format(time.RFC3339))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid,
	}, nil
}

// createCertificate signs tmpl with signer as parent and parses the result.
func createCertificate(tmpl, parent *x509.Certificate, pub any, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// newSerial returns a random 128-bit serial number, never zero.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("making a serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is RFC 7093's method 1: the leftmost 160 bits of the SHA-256 of the
// subjectPublicKey bits. Set here rather than left to crypto/x509, whose method has
// changed between Go releases, so that a CA's AuthorityKeyId links stay the same.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decoding the public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// parseECKey parses one ECDSA private key, PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE
// KEY"), skipping the "EC PARAMETERS" block that `openssl ecparam -genkey` writes first.
func parseECKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	rest := keyPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key: want a block PRIVATE KEY (PKCS#8) or EC PRIVATE KEY (SEC1)")
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			return nil, fmt.Errorf("a PEM block %q, not a private key: want PRIVATE KEY (PKCS#8) or EC PRIVATE KEY (SEC1)", b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("the %s does not parse: %w", b.Type, err)
		}
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the key is %s: meshfed's CAs use ECDSA keys", keyKind(key))
		}
		return ec, nil
	}
}
