package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestNewAnchor(t *testing.T) {
	a := mustAnchor(t, "meshfed trust anchor")
	c := a.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != -1 {
		t.Errorf("IsCA %v, basic constraints %v, MaxPathLen %d: want a CA with no path length limit", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("key usage %v, want cert sign and CRL sign", c.KeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
	}
	if !isSelfSigned(c) || c.Subject.CommonName != "meshfed trust anchor" {
		t.Errorf("subject %q issuer %q: want self-signed", c.Subject, c.Issuer)
	}
	if len(c.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId %x, want 20 bytes", c.SubjectKeyId)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v, want positive and at most 128 bits", c.SerialNumber)
	}
	if !c.NotBefore.Equal(testNow.Add(-ClockSkew)) || !c.NotAfter.Equal(testNow.Add(10*365*24*time.Hour)) {
		t.Errorf("valid %s to %s", c.NotBefore, c.NotAfter)
	}
	if len(a.Chain) != 0 {
		t.Errorf("an anchor has a chain of %d", len(a.Chain))
	}
	if b := mustAnchor(t, "meshfed trust anchor"); b.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two anchors share a serial number")
	}
}

func TestNewAnchorBadInput(t *testing.T) {
	for _, tt := range []struct {
		cn       string
		validity time.Duration
		err      string
	}{
		{"", time.Hour, "the common name is empty"},
		{"a", 0, "validity 0s is not positive"},
		{"a", -time.Hour, "is not positive"},
	} {
		_, err := NewAnchor(tt.cn, tt.validity, testNow)
		checkErr(t, err, tt.err)
	}
}

func TestNewIssuer(t *testing.T) {
	anchor := mustAnchor(t, "anchor")
	shortAnchor, err := NewAnchor("short-lived anchor", 2*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		parent   *CA
		validity time.Duration
		now      time.Time
		notAfter time.Time
		chainLen int
		err      string
	}{
		{name: "under the anchor", parent: anchor, validity: 8760 * time.Hour, now: testNow, notAfter: testNow.Add(8760 * time.Hour)},
		{name: "capped at the anchor's end", parent: shortAnchor, validity: 8760 * time.Hour, now: testNow, notAfter: shortAnchor.Cert.NotAfter},
		{name: "under an issuer", parent: mustIssuer(t, anchor, "identity.west.meshfed"), validity: time.Hour, now: testNow, err: "may sign leaves only"},
		{name: "expired parent", parent: shortAnchor, validity: time.Hour, now: testNow.Add(3 * time.Hour), err: "expired at"},
		{name: "parent not yet valid", parent: anchor, validity: time.Hour, now: testNow.Add(-time.Hour), err: "is not valid before"},
		{name: "no parent", parent: nil, validity: time.Hour, now: testNow, err: "has no certificate or no key"},
		{name: "zero validity", parent: anchor, validity: 0, now: testNow, err: "is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewIssuer(tt.parent, "identity.west.meshfed", tt.validity, tt.now)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			c := got.Cert
			if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
				t.Errorf("IsCA %v MaxPathLen %d: want a CA of path length 0", c.IsCA, c.MaxPathLen)
			}
			if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("key usage %v", c.KeyUsage)
			}
			if !c.NotAfter.Equal(tt.notAfter) {
				t.Errorf("NotAfter %s, want %s", c.NotAfter, tt.notAfter)
			}
			if err := c.CheckSignatureFrom(tt.parent.Cert); err != nil {
				t.Errorf("not signed by its parent: %v", err)
			}
			if !bytes.Equal(c.AuthorityKeyId, tt.parent.Cert.SubjectKeyId) || len(c.SubjectKeyId) != 20 {
				t.Errorf("AuthorityKeyId %x, parent's SubjectKeyId %x, own %x", c.AuthorityKeyId, tt.parent.Cert.SubjectKeyId, c.SubjectKeyId)
			}
			if len(got.Chain) != tt.chainLen {
				t.Errorf("chain of %d, want %d", len(got.Chain), tt.chainLen)
			}
		})
	}
}

// An issuer under an intermediate carries the intermediate in its chain, and its leaves
// verify with the anchor alone when given that chain.
func TestIssuerUnderIntermediate(t *testing.T) {
	anchor := mustAnchor(t, "anchor")
	key := mustKey(t, elliptic.P256())
	tmpl, err := caTemplate("org intermediate", &key.PublicKey, testNow, testNow.Add(1000*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.MaxPathLen = 1
	cert, err := createCertificate(tmpl, anchor.Cert, &key.PublicKey, anchor.Key)
	if err != nil {
		t.Fatal(err)
	}
	org := &CA{Cert: cert, Key: key}
	issuer, err := NewIssuer(org, "identity.west.meshfed", 8760*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(issuer.Chain) != 1 || issuer.Chain[0] != org.Cert {
		t.Fatalf("chain %v, want the intermediate", issuer.Chain)
	}
	if !issuer.Cert.NotAfter.Equal(org.Cert.NotAfter) {
		t.Errorf("NotAfter %s, want capped at the intermediate's %s", issuer.Cert.NotAfter, org.Cert.NotAfter)
	}
	id := mustID(t, "spiffe://west.meshfed.local/ns/default/sa/web")
	leaf := mustLeaf(t, issuer, id, LeafTTL)
	got, err := NewBundle(anchor.Cert).Verify(leaf, chainOf(t, issuer), testNow)
	if err != nil || got != id {
		t.Errorf("Verify: %v %v", got, err)
	}
	loaded, err := LoadCA(issuer.CertPEM(), mustKeyPEM(t, issuer))
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Chain) != 1 || !loaded.Chain[0].Equal(org.Cert) {
		t.Errorf("loaded chain %v, want the intermediate", loaded.Chain)
	}
}

// chainOf is what a proxy sends with its leaf: the issuer and its chain.
func chainOf(t *testing.T, ca *CA) []*x509.Certificate {
	t.Helper()
	certs, err := ParseCertificates(ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func mustKeyPEM(t *testing.T, ca *CA) []byte {
	t.Helper()
	b, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadCA(t *testing.T) {
	anchor := mustAnchor(t, "anchor")
	issuer := mustIssuer(t, anchor, "identity.west.meshfed")
	other := mustAnchor(t, "other")
	sec1, err := x509.MarshalECPrivateKey(issuer.Key)
	if err != nil {
		t.Fatal(err)
	}
	sec1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	params := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustLeaf(t, issuer, mustID(t, "spiffe://west.meshfed.local/ns/a/sa/b"), LeafTTL)
	leafKey := mustKey(t, elliptic.P256()) // not the leaf's, but the leaf fails first

	tests := []struct {
		name      string
		cert, key []byte
		want      *x509.Certificate
		err       string
	}{
		{name: "issuer, PKCS#8", cert: issuer.CertPEM(), key: mustKeyPEM(t, issuer), want: issuer.Cert},
		{name: "issuer, SEC1", cert: issuer.CertPEM(), key: sec1PEM, want: issuer.Cert},
		{name: "issuer, SEC1 after EC PARAMETERS", cert: issuer.CertPEM(), key: append(params, sec1PEM...), want: issuer.Cert},
		{name: "issuer then anchor, as some tools write tls.crt", cert: EncodeCertificates(issuer.Cert, anchor.Cert), key: mustKeyPEM(t, issuer), want: issuer.Cert},
		{name: "anchor", cert: anchor.CertPEM(), key: mustKeyPEM(t, anchor), want: anchor.Cert},
		{name: "key of another CA", cert: issuer.CertPEM(), key: mustKeyPEM(t, other), err: "tls.key is not the key of"},
		{name: "chain out of order", cert: EncodeCertificates(issuer.Cert, other.Cert), key: mustKeyPEM(t, issuer), err: "certificate 1 (\"CN=identity.west.meshfed\""},
		{name: "a leaf", cert: EncodeCertificates(leaf), key: mustKeyPEM(t, &CA{Key: leafKey}), err: "is not a CA"},
		{name: "RSA key", cert: issuer.CertPEM(), key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}), err: "tls.key: the key is RSA"},
		{name: "no key", cert: issuer.CertPEM(), key: nil, err: "tls.key: no PEM private key"},
		{name: "certificate as key", cert: issuer.CertPEM(), key: issuer.CertPEM(), err: `tls.key: a PEM block "CERTIFICATE", not a private key`},
		{name: "no certificate", cert: []byte("hello"), key: mustKeyPEM(t, issuer), err: "tls.crt: no PEM certificate"},
		{name: "empty certificate", cert: nil, key: mustKeyPEM(t, issuer), err: "tls.crt: no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCA(tt.cert, tt.key)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			if !got.Cert.Equal(tt.want) || len(got.Chain) != 0 {
				t.Errorf("loaded %s with a chain of %d, want %s alone", describe(got.Cert), len(got.Chain), describe(tt.want))
			}
			if !got.Key.Equal(issuer.Key) && !got.Key.Equal(anchor.Key) {
				t.Error("loaded another key")
			}
			// What LoadCA loads, CertPEM and KeyPEM write back, and it loads the same.
			again, err := LoadCA(got.CertPEM(), mustKeyPEM(t, got))
			if err != nil || !again.Cert.Equal(got.Cert) || !again.Key.Equal(got.Key) {
				t.Errorf("round trip: %v", err)
			}
		})
	}
}

func TestSignLeaf(t *testing.T) {
	anchor := mustAnchor(t, "anchor")
	issuer := mustIssuer(t, anchor, "identity.west.meshfed")
	id := mustID(t, "spiffe://west.meshfed.local/ns/default/sa/web")
	key := mustKey(t, elliptic.P256())

	// A CSR that asks for much more than its key: a subject, DNS names, a CA flag. Only
	// its key is used.
	greedy, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		DNSNames:       []string{"kubernetes.default.svc"},
		EmailAddresses: []string{"root@example.com"},
		URIs:           []*url.URL{{Scheme: "spiffe", Host: "east.meshfed.local", Path: "/ns/kube-system/sa/admin"}},
		ExtraExtensions: []pkix.Extension{{
			Id: []int{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff},
		}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	greedyCSR, err := x509.ParseCertificateRequest(greedy)
	if err != nil {
		t.Fatal(err)
	}
	tampered := *greedyCSR
	tampered.Signature = slices.Clone(greedyCSR.Signature)
	tampered.Signature[len(tampered.Signature)-1] ^= 1
	p384, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, mustKey(t, elliptic.P384()))
	if err != nil {
		t.Fatal(err)
	}
	p384CSR, err := x509.ParseCertificateRequest(p384)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		csr      *x509.CertificateRequest
		ca       *CA
		id       ID
		ttl      time.Duration
		now      time.Time
		notAfter time.Time
		err      string
	}{
		{name: "24h leaf", csr: greedyCSR, ca: issuer, id: id, ttl: LeafTTL, now: testNow, notAfter: testNow.Add(LeafTTL)},
		{name: "capped at the issuer's end", csr: greedyCSR, ca: issuer, id: id, ttl: LeafTTL, now: issuer.Cert.NotAfter.Add(-time.Hour), notAfter: issuer.Cert.NotAfter},
		{name: "expired issuer", csr: greedyCSR, ca: issuer, id: id, ttl: LeafTTL, now: issuer.Cert.NotAfter, err: "expired at"},
		{name: "bad signature", csr: &tampered, ca: issuer, id: id, ttl: LeafTTL, now: testNow, err: "the CSR's signature does not verify"},
		{name: "P-384 key", csr: p384CSR, ca: issuer, id: id, ttl: LeafTTL, now: testNow, err: "ECDSA on P-384"},
		{name: "invalid ID", csr: greedyCSR, ca: issuer, id: ID{"west", "Default", "web"}, ttl: LeafTTL, now: testNow, err: "is not a Kubernetes namespace name"},
		{name: "zero ttl", csr: greedyCSR, ca: issuer, id: id, ttl: 0, now: testNow, err: "ttl 0s is not positive"},
		{name: "no CSR", csr: nil, ca: issuer, id: id, ttl: LeafTTL, now: testNow, err: "no CSR"},
		{name: "CA without key", csr: greedyCSR, ca: &CA{Cert: issuer.Cert}, id: id, ttl: LeafTTL, now: testNow, err: "no key"},
		{name: "key of another CA", csr: greedyCSR, ca: &CA{Cert: issuer.Cert, Key: anchor.Key}, id: id, ttl: LeafTTL, now: testNow, err: "is not the key of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := tt.ca.SignLeaf(tt.csr, tt.id, tt.ttl, tt.now)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.String() {
				t.Errorf("URIs %v, want %s only", leaf.URIs, id)
			}
			if len(leaf.DNSNames)+len(leaf.EmailAddresses)+len(leaf.IPAddresses) > 0 || leaf.Subject.String() != "" {
				t.Errorf("took from the CSR: subject %q, DNS %v, email %v", leaf.Subject, leaf.DNSNames, leaf.EmailAddresses)
			}
			if leaf.IsCA || !leaf.BasicConstraintsValid {
				t.Error("the leaf is a CA")
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("key usage %v, extended %v", leaf.KeyUsage, leaf.ExtKeyUsage)
			}
			if !leaf.NotBefore.Equal(tt.now.Add(-time.Minute)) || !leaf.NotAfter.Equal(tt.notAfter) {
				t.Errorf("valid %s to %s, want %s to %s", leaf.NotBefore, leaf.NotAfter, tt.now.Add(-time.Minute), tt.notAfter)
			}
			if !key.PublicKey.Equal(leaf.PublicKey) {
				t.Error("the leaf is not for the CSR's key")
			}
			if got, err := NewBundle(anchor.Cert).Verify(leaf, chainOf(t, issuer), tt.now); err != nil || got != id {
				t.Errorf("Verify: %v, %v", got, err)
			}
		})
	}
}
