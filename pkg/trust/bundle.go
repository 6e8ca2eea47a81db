package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bundle is a set of anchors: one, or several during a rotation. It is immutable: Add and
// Remove return new bundles, so one can be shared by goroutines while it is replaced.
type Bundle struct {
	anchors []*x509.Certificate
	// roots is anchors as a pool, made once: every mTLS handshake verifies against it.
	roots *x509.CertPool
}

// NewBundle returns a bundle of anchors, each once, in the order given. It does not check
// that they are anchors: ParseBundle does, for bundles that come from outside.
func NewBundle(anchors ...*x509.Certificate) *Bundle {
	b := &Bundle{}
	for _, a := range anchors {
		if a != nil && !b.Contains(a) {
			b.anchors = append(b.anchors, a)
		}
	}
	b.roots = certPool(b.anchors)
	return b
}

// ParseBundle parses PEM anchors: every block must be a self-signed CA CERTIFICATE, and
// there must be at least one. Errors name the block, counting from 1.
func ParseBundle(pemBytes []byte) (*Bundle, error) {
	certs, err := ParseCertificates(pemBytes)
	if err != nil {
		return nil, err
	}
	for i, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("block %d: %s is not a CA: a bundle holds anchors only", i+1, describe(c))
		}
		if !isSelfSigned(c) {
			return nil, fmt.Errorf("block %d: %s is not self-signed (it was issued by %q): a bundle holds anchors only, not issuers", i+1, describe(c), c.Issuer.String())
		}
	}
	return NewBundle(certs...), nil
}

// PEM returns the anchors as PEM, as the bundle ConfigMap holds them.
func (b *Bundle) PEM() []byte { return EncodeCertificates(b.Anchors()...) }

// Anchors returns the anchors; the slice is the caller's. A nil bundle holds none.
func (b *Bundle) Anchors() []*x509.Certificate {
	if b == nil {
		return nil
	}
	return slices.Clone(b.anchors)
}

// Contains says whether c is one of the anchors, byte for byte.
func (b *Bundle) Contains(c *x509.Certificate) bool {
	return b != nil && c != nil && slices.ContainsFunc(b.anchors, func(a *x509.Certificate) bool { return bytes.Equal(a.Raw, c.Raw) })
}

// Add returns a bundle with c added, unless it holds c already.
func (b *Bundle) Add(c *x509.Certificate) *Bundle {
	return NewBundle(append(b.Anchors(), c)...)
}

// Remove returns a bundle without c.
func (b *Bundle) Remove(c *x509.Certificate) *Bundle {
	return NewBundle(slices.DeleteFunc(b.Anchors(), func(a *x509.Certificate) bool { return c != nil && bytes.Equal(a.Raw, c.Raw) })...)
}

// Verify checks that leaf chains through intermediates to one of the anchors at now, for
// client or server auth, and returns its ID. It does not check which trust domain the ID
// names: that is for the caller, who knows which cluster it expects.
func (b *Bundle) Verify(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (ID, error) {
	if b == nil || len(b.anchors) == 0 {
		return ID{}, errors.New("the trust bundle holds no anchor")
	}
	if leaf == nil {
		return ID{}, errors.New("no certificate to verify")
	}
	if leaf.IsCA {
		return ID{}, fmt.Errorf("%s is a CA, not a workload's certificate", describe(leaf))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         b.pool(),
		Intermediates: certPool(intermediates),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return ID{}, fmt.Errorf("%s does not chain to an anchor of the trust bundle (%s): %w", describe(leaf), b.describe(), err)
	}
	return IDFromCertificate(leaf)
}

// VerifyIssuer checks that issuer, a CA, chains through chain to one of the anchors at now,
// and returns that anchor. `mesh trust verify` asks it of every cluster's issuer against
// every cluster's bundle; the identity service may ask it of an issuer Secret it loads,
// before signing anything that proxies would refuse.
func (b *Bundle) VerifyIssuer(issuer *x509.Certificate, chain []*x509.Certificate, now time.Time) (*x509.Certificate, error) {
	if b == nil || len(b.anchors) == 0 {
		return nil, errors.New("the trust bundle holds no anchor")
	}
	if issuer == nil {
		return nil, errors.New("no issuer to verify")
	}
	if !issuer.BasicConstraintsValid || !issuer.IsCA {
		return nil, fmt.Errorf("%s is not a CA", describe(issuer))
	}
	chains, err := issuer.Verify(x509.VerifyOptions{
		Roots:         b.pool(),
		Intermediates: certPool(chain),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("%s does not chain to an anchor of the trust bundle (%s): %w", describe(issuer), b.describe(), err)
	}
	c := chains[0]
	return c[len(c)-1], nil
}

func (b *Bundle) pool() *x509.CertPool { return b.roots }

func certPool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// describe names the bundle's anchors for errors.
func (b *Bundle) describe() string {
	names := make([]string, len(b.anchors))
	for i, a := range b.anchors {
		names[i] = describe(a)
	}
	return strings.Join(names, ", ")
}

// ParseCertificates parses PEM certificates: every block must be a CERTIFICATE, and there
// must be at least one. Errors name the block, counting from 1. Text outside the blocks is
// ignored, as openssl and crypto/x509's AppendCertsFromPEM do: bundles often carry a
// comment naming each certificate.
func ParseCertificates(pemBytes []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := pemBytes; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		n := len(certs) + 1
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is a %q, not a CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("block %d does not parse: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

// EncodeCertificates returns certs as PEM, in order.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// Fingerprint is the SHA-256 of c's DER in hex: how `mesh trust` tells anchors apart, and
// what `openssl x509 -noout -fingerprint -sha256` prints (there in upper case, with colons).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// isSelfSigned says whether c is signed by its own key under its own name: an anchor.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// describe names a certificate for errors: its subject and the start of its fingerprint,
// which tells apart two anchors of the same name during a rotation.
func describe(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	name := c.Subject.String()
	if name == "" && len(c.URIs) > 0 {
		name = c.URIs[0].String()
	}
	return fmt.Sprintf("%q (sha256 %s)", name, Fingerprint(c)[:16])
}

// keyKind names a key's algorithm for errors.
func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA on " + k.Curve.Params().Name
	case *ecdsa.PrivateKey:
		return "ECDSA on " + k.Curve.Params().Name
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}
