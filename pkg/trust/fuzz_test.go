package trust

import (
	"crypto/elliptic"
	"crypto/x509"
	"net/url"
	"testing"
)

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"spiffe://west.meshfed.local/ns/default/sa/web",
		"spiffe://td/ns/a/sa/b.c",
		"SPIFFE://west/ns/a/sa/b",
		"spiffe://west:1/ns/a/sa/b",
		"spiffe://u@west/ns/a/sa/b",
		"spiffe://west/ns/a/sa/b/",
		"spiffe://west/ns/a/sa/%62",
		"spiffe://west/ns/a/sa/b?q#f",
		"spiffe://west//ns/a/sa/b",
		"spiffe://",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		// One ID has one spelling: what parses is what String writes, and parses again to
		// the same ID.
		if id.String() != s {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
		again, err := ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("ParseID(%q) = %+v, but its String() parses to %+v, %v", s, id, again, err)
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseID(%q) accepted an ID that does not validate: %v", s, err)
		}
		if u := id.URL().String(); u != s {
			t.Fatalf("ParseID(%q).URL() = %q", s, u)
		}
	})
}

func FuzzParseCSR(f *testing.F) {
	key := mustKey(f, elliptic.P256())
	good := mustCSR(f, key, ID{"west.meshfed.local", "default", "web"})
	f.Add(good)
	f.Add(csrDER(f, key, x509.CertificateRequest{DNSNames: []string{"web"}, URIs: []*url.URL{{Scheme: "spiffe", Host: "w", Path: "/ns/a/sa/b"}}}))
	f.Add(csrDER(f, key, x509.CertificateRequest{URIs: []*url.URL{{Scheme: "spiffe", Host: "w", Path: "/ns/a"}}}))
	f.Add(csrDER(f, mustKey(f, elliptic.P384()), x509.CertificateRequest{}))
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, id, err := ParseCSR(der)
		if err != nil {
			if csr != nil {
				t.Fatal("a CSR returned with an error")
			}
			return
		}
		// Whatever ParseCSR accepts is a CSR an issuer may sign as is.
		if err := id.Validate(); err != nil {
			t.Fatalf("accepted an invalid ID %+v: %v", id, err)
		}
		if len(der) > MaxCSRBytes {
			t.Fatalf("accepted %d bytes", len(der))
		}
		if err := checkCSRKey(csr); err != nil {
			t.Fatalf("accepted: %v", err)
		}
	})
}

// FuzzIDFromCertificate reads the identity out of a peer's certificate as it arrives in a
// handshake: any DER that parses as a certificate. What it accepts is one valid ID.
func FuzzIDFromCertificate(f *testing.F) {
	anchor := mustAnchor(f, "anchor")
	issuer := mustIssuer(f, anchor, "identity.west.meshfed")
	f.Add(mustLeaf(f, issuer, ID{"west.meshfed.local", "default", "web"}, LeafTTL).Raw)
	f.Add(anchor.Cert.Raw)
	f.Add(issuer.Cert.Raw)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		id, err := IDFromCertificate(c)
		if err != nil {
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("accepted an invalid ID %+v: %v", id, err)
		}
		if again, err := ParseID(id.String()); err != nil || again != id {
			t.Fatalf("accepted %+v, whose String() parses to %+v, %v", id, again, err)
		}
	})
}
