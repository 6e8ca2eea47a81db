package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"strings"
	"testing"
)

// csrDER makes a CSR from tmpl signed by key, with the web ID as its only URI unless tmpl
// sets URIs or raw extensions of its own.
func csrDER(t testing.TB, key crypto.Signer, tmpl x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl.URIs == nil && tmpl.ExtraExtensions == nil {
		tmpl.URIs = []*url.URL{{Scheme: "spiffe", Host: "west.meshfed.local", Path: "/ns/default/sa/web"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseCSR(t *testing.T) {
	p256 := mustKey(t, elliptic.P256())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := csrDER(t, p256, x509.CertificateRequest{})
	badSig := []byte(string(good))
	badSig[len(badSig)-1] ^= 1
	db := &url.URL{Scheme: "spiffe", Host: "west.meshfed.local", Path: "/ns/default/sa/db"}
	web := &url.URL{Scheme: "spiffe", Host: "west.meshfed.local", Path: "/ns/default/sa/web"}

	tests := []struct {
		name string
		der  []byte
		want ID
		err  string
	}{
		{name: "one spiffe URI", der: good, want: ID{"west.meshfed.local", "default", "web"}},
		{name: "a subject, ignored", der: csrDER(t, p256, x509.CertificateRequest{Subject: pkix.Name{CommonName: "web"}}), want: ID{"west.meshfed.local", "default", "web"}},
		{name: "from NewCSR", der: mustCSR(t, p256, ID{"east.meshfed.local", "shop", "cart"}), want: ID{"east.meshfed.local", "shop", "cart"}},

		{name: "extra DNS SAN", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{web}, DNSNames: []string{"web.default.svc"}}), err: "asks for a DNS name"},
		{name: "extra IP SAN", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{web}, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}), err: "asks for an IP address"},
		{name: "extra email SAN", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{web}, EmailAddresses: []string{"a@b.c"}}), err: "asks for an email address"},
		{name: "two URIs", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{web, db}}), err: "asks for 2 URIs"},
		{name: "no SAN", der: csrDER(t, p256, x509.CertificateRequest{ExtraExtensions: []pkix.Extension{}, URIs: []*url.URL{}}), err: "asks for 0 URIs"},
		{name: "a URI that is not an ID", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{{Scheme: "spiffe", Host: "west.meshfed.local", Path: "/ns/default"}}}), err: "the CSR's URI: spiffe ID"},
		{name: "RSA key", der: csrDER(t, rsaKey, x509.CertificateRequest{}), err: "the CSR's key is RSA"},
		{name: "P-384 key", der: csrDER(t, mustKey(t, elliptic.P384()), x509.CertificateRequest{}), err: "ECDSA on P-384"},
		{name: "bad signature", der: badSig, err: "the CSR's signature does not verify"},
		{name: "requests key usage", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{web}, ExtraExtensions: []pkix.Extension{{Id: []int{2, 5, 29, 15}, Critical: true, Value: []byte{0x03, 0x02, 0x01, 0x06}}}}), err: "requests the extension keyUsage"},
		{name: "requests CA", der: csrDER(t, p256, x509.CertificateRequest{URIs: []*url.URL{web}, ExtraExtensions: []pkix.Extension{{Id: []int{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}}), err: "requests the extension basicConstraints"},
		{name: "oversized", der: csrDER(t, p256, x509.CertificateRequest{Subject: pkix.Name{Organization: []string{strings.Repeat("o", MaxCSRBytes)}}}), err: "at most 4096 are accepted"},
		{name: "empty", der: nil, err: "the CSR is empty"},
		{name: "not DER", der: []byte("-----BEGIN CERTIFICATE REQUEST-----"), err: "does not parse as DER"},
		{name: "trailing bytes", der: append(append([]byte{}, good...), 0), err: "does not parse as DER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, got, err := ParseCSR(tt.der)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if err == nil && csr == nil {
				t.Error("no CSR returned")
			}
			if err != nil && csr != nil {
				t.Error("a CSR returned with an error")
			}
		})
	}
}

func mustCSR(t testing.TB, key *ecdsa.PrivateKey, id ID) []byte {
	t.Helper()
	der, err := NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestNewCSRBadInput(t *testing.T) {
	id := ID{"west.meshfed.local", "default", "web"}
	for _, tt := range []struct {
		name string
		key  *ecdsa.PrivateKey
		id   ID
		err  string
	}{
		{"no key", nil, id, "no key"},
		{"P-384", mustKey(t, elliptic.P384()), id, "the key is on P-384"},
		{"bad ID", mustKey(t, elliptic.P256()), ID{"west", "a/b", "web"}, "is not a Kubernetes namespace name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCSR(tt.key, tt.id)
			checkErr(t, err, tt.err)
		})
	}
}
