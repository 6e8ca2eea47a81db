package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// now is the time every test runs at: certificates are made and checked against it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustAnchor(t testing.TB, cn string) *CA {
	t.Helper()
	a, err := NewAnchor(cn, 10*365*24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustIssuer(t testing.TB, parent *CA, cn string) *CA {
	t.Helper()
	i, err := NewIssuer(parent, cn, 365*24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustID(t testing.TB, s string) ID {
	t.Helper()
	id, err := ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// mustLeaf signs a leaf for id by ca, from a fresh key's CSR, at testNow for ttl.
func mustLeaf(t testing.TB, ca *CA, id ID, ttl time.Duration) *x509.Certificate {
	t.Helper()
	der, err := NewCSR(mustKey(t, elliptic.P256()), id)
	if err != nil {
		t.Fatal(err)
	}
	csr, _, err := ParseCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.SignLeaf(csr, id, ttl, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// checkErr fails unless err matches want: nil for "", else an error containing want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q, want one containing %q", err, want)
	}
}
