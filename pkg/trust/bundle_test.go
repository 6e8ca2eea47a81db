package trust

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestBundleVerify(t *testing.T) {
	old := mustAnchor(t, "meshfed trust anchor 2025")
	next := mustAnchor(t, "meshfed trust anchor 2026")
	stranger := mustAnchor(t, "someone else's anchor")
	westOld := mustIssuer(t, old, "identity.west.meshfed")
	westNew := mustIssuer(t, next, "identity.west.meshfed")
	eastOld := mustIssuer(t, old, "identity.east.meshfed")
	evil := mustIssuer(t, stranger, "identity.west.meshfed")

	web := mustID(t, "spiffe://west.meshfed.local/ns/default/sa/web")
	cart := mustID(t, "spiffe://east.meshfed.local/ns/shop/sa/cart")
	leafOld := mustLeaf(t, westOld, web, LeafTTL)
	leafNew := mustLeaf(t, westNew, web, LeafTTL)
	leafEast := mustLeaf(t, eastOld, cart, LeafTTL)
	leafEvil := mustLeaf(t, evil, web, LeafTTL)

	tests := []struct {
		name          string
		bundle        *Bundle
		leaf          *x509.Certificate
		intermediates []*x509.Certificate
		now           time.Time
		want          ID
		err           string
	}{
		{name: "west's issuer, bundle of the anchor", bundle: NewBundle(old.Cert), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow, want: web},
		{name: "east's leaf, same anchor", bundle: NewBundle(old.Cert), leaf: leafEast, intermediates: []*x509.Certificate{eastOld.Cert}, now: testNow, want: cart},
		{name: "another anchor's leaf", bundle: NewBundle(old.Cert), leaf: leafEvil, intermediates: []*x509.Certificate{evil.Cert}, now: testNow, err: "does not chain to an anchor of the trust bundle"},
		{name: "rotation: old leaf, old+new bundle", bundle: NewBundle(old.Cert, next.Cert), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow, want: web},
		{name: "rotation: new leaf, old+new bundle", bundle: NewBundle(old.Cert, next.Cert), leaf: leafNew, intermediates: []*x509.Certificate{westNew.Cert}, now: testNow, want: web},
		{name: "rotation: old leaf after the drop", bundle: NewBundle(next.Cert), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow, err: "does not chain"},
		{name: "new leaf, old bundle", bundle: NewBundle(old.Cert), leaf: leafNew, intermediates: []*x509.Certificate{westNew.Cert}, now: testNow, err: "does not chain"},
		{name: "expired leaf", bundle: NewBundle(old.Cert), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow.Add(LeafTTL + time.Second), err: "expired"},
		{name: "leaf not yet valid", bundle: NewBundle(old.Cert), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow.Add(-2 * ClockSkew), err: "not yet valid"},
		{name: "within the clock skew", bundle: NewBundle(old.Cert), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow.Add(-ClockSkew / 2), want: web},
		{name: "no intermediates", bundle: NewBundle(old.Cert), leaf: leafOld, now: testNow, err: "does not chain"},
		{name: "the issuer itself", bundle: NewBundle(old.Cert), leaf: westOld.Cert, now: testNow, err: "is a CA, not a workload's certificate"},
		{name: "empty bundle", bundle: NewBundle(), leaf: leafOld, intermediates: []*x509.Certificate{westOld.Cert}, now: testNow, err: "holds no anchor"},
		{name: "no leaf", bundle: NewBundle(old.Cert), now: testNow, err: "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.bundle.Verify(tt.leaf, tt.intermediates, tt.now)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBundleSet(t *testing.T) {
	a, b, c := mustAnchor(t, "a"), mustAnchor(t, "b"), mustAnchor(t, "c")
	names := func(bu *Bundle) string {
		var s []string
		for _, x := range bu.Anchors() {
			s = append(s, x.Subject.CommonName)
		}
		return strings.Join(s, ",")
	}
	ab := NewBundle(a.Cert, b.Cert, a.Cert)
	tests := []struct {
		name   string
		bundle *Bundle
		want   string
	}{
		{"deduplicated", ab, "a,b"},
		{"add", ab.Add(c.Cert), "a,b,c"},
		{"add again", ab.Add(b.Cert), "a,b"},
		{"remove", ab.Remove(a.Cert), "b"},
		{"remove absent", ab.Remove(c.Cert), "a,b"},
		{"nil ignored", NewBundle(nil, a.Cert), "a"},
		{"nil bundle", (*Bundle)(nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(tt.bundle); got != tt.want {
				t.Errorf("anchors %s, want %s", got, tt.want)
			}
		})
	}
	if names(ab) != "a,b" {
		t.Error("Add or Remove changed the bundle they were called on")
	}
	if !ab.Contains(a.Cert) || ab.Contains(c.Cert) || ab.Contains(nil) {
		t.Error("Contains")
	}
	ab.Anchors()[0] = c.Cert
	if names(ab) != "a,b" {
		t.Error("Anchors handed out the bundle's own slice")
	}
}

func TestParseBundle(t *testing.T) {
	a, b := mustAnchor(t, "a"), mustAnchor(t, "b")
	issuer := mustIssuer(t, a, "identity.west.meshfed")
	key := mustKeyPEM(t, a)
	tests := []struct {
		name string
		pem  []byte
		want []string
		err  string
	}{
		{name: "one", pem: a.CertPEM(), want: []string{"a"}},
		{name: "two, duplicate dropped", pem: EncodeCertificates(a.Cert, b.Cert, a.Cert), want: []string{"a", "b"}},
		{name: "round trip", pem: NewBundle(b.Cert, a.Cert).PEM(), want: []string{"b", "a"}},
		{name: "with surrounding whitespace", pem: []byte("\n" + string(a.CertPEM()) + "\n\n"), want: []string{"a"}},
		{name: "empty", pem: nil, err: "no PEM certificate"},
		{name: "blank", pem: []byte("  \n"), err: "no PEM certificate"},
		{name: "an issuer", pem: EncodeCertificates(a.Cert, issuer.Cert), err: "block 2: \"CN=identity.west.meshfed\""},
		{name: "a key", pem: append(a.CertPEM(), key...), err: `block 2 is a "PRIVATE KEY", not a CERTIFICATE`},
		{name: "comments around blocks", pem: []byte("# a\n" + string(a.CertPEM()) + "# b\n" + string(b.CertPEM()) + "end\n"), want: []string{"a", "b"}},
		{name: "no block", pem: []byte("junk"), err: "no PEM certificate"},
		{name: "bad DER", pem: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), err: "block 1 does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBundle(tt.pem)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			var names []string
			for _, c := range got.Anchors() {
				names = append(names, c.Subject.CommonName)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("anchors %v, want %v", names, tt.want)
			}
		})
	}
}

func TestBundleVerifyIssuer(t *testing.T) {
	old, next := mustAnchor(t, "old"), mustAnchor(t, "new")
	westOld, westNew := mustIssuer(t, old, "identity.west.meshfed"), mustIssuer(t, next, "identity.west.meshfed")
	leaf := mustLeaf(t, westOld, mustID(t, "spiffe://west.meshfed.local/ns/a/sa/b"), LeafTTL)
	tests := []struct {
		name   string
		bundle *Bundle
		issuer *x509.Certificate
		now    time.Time
		want   *x509.Certificate
		err    string
	}{
		{name: "old issuer, old bundle", bundle: NewBundle(old.Cert), issuer: westOld.Cert, now: testNow, want: old.Cert},
		{name: "new issuer, both anchors", bundle: NewBundle(old.Cert, next.Cert), issuer: westNew.Cert, now: testNow, want: next.Cert},
		{name: "new issuer, old bundle", bundle: NewBundle(old.Cert), issuer: westNew.Cert, now: testNow, err: "does not chain to an anchor"},
		{name: "expired issuer", bundle: NewBundle(old.Cert), issuer: westOld.Cert, now: westOld.Cert.NotAfter.Add(time.Second), err: "expired"},
		{name: "the anchor itself", bundle: NewBundle(old.Cert), issuer: old.Cert, now: testNow, want: old.Cert},
		{name: "a leaf", bundle: NewBundle(old.Cert), issuer: leaf, now: testNow, err: "is not a CA"},
		{name: "empty bundle", bundle: NewBundle(), issuer: westOld.Cert, now: testNow, err: "holds no anchor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.bundle.VerifyIssuer(tt.issuer, nil, tt.now)
			checkErr(t, err, tt.err)
			if (got == nil) != (tt.want == nil) || got != nil && !got.Equal(tt.want) {
				t.Errorf("anchor %s, want %s", describe(got), describe(tt.want))
			}
		})
	}
}
