package trust

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want ID
		err  string
	}{
		{in: "spiffe://west.meshfed.local/ns/default/sa/web", want: ID{"west.meshfed.local", "default", "web"}},
		{in: "spiffe://td/ns/a/sa/b.c-d", want: ID{"td", "a", "b.c-d"}},
		{in: "spiffe://west.meshfed.local/ns/mesh-system/sa/" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63), want: ID{"west.meshfed.local", "mesh-system", strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)}},

		{in: "", err: "does not start with spiffe://"},
		{in: "west.meshfed.local/ns/a/sa/b", err: "does not start with spiffe://"},
		{in: "SPIFFE://west/ns/a/sa/b", err: "in lower case"},
		{in: "Spiffe://west/ns/a/sa/b", err: "in lower case"},
		{in: "https://west/ns/a/sa/b", err: `the scheme "https" is not spiffe`},
		{in: "spiffe:/west/ns/a/sa/b", err: "does not start with spiffe://"},
		{in: "spiffe:///ns/a/sa/b", err: "the trust domain is empty"},
		{in: "spiffe://West/ns/a/sa/b", err: `the trust domain "West" is not lower case`},
		{in: "spiffe://west_1/ns/a/sa/b", err: "is not a DNS name"},
		{in: "spiffe://west..local/ns/a/sa/b", err: "is not a DNS name"},
		{in: "spiffe://-west/ns/a/sa/b", err: "is not a DNS name"},
		{in: "spiffe://west:443/ns/a/sa/b", err: "holds a port"},
		{in: "spiffe://user@west/ns/a/sa/b", err: "holds user info"},
		{in: "spiffe://west/ns/a/sa/b?x=1", err: "holds a query"},
		{in: "spiffe://west/ns/a/sa/b#frag", err: "holds a fragment"},
		{in: "spiffe://west/ns/a/sa/%62", err: "percent-escape"},
		{in: "spiffe://west/ns/a/sa/b/", err: "ends with '/'"},
		{in: "spiffe://west", err: "has no path"},
		{in: "spiffe://west/", err: "has no path"},
		{in: "spiffe://west/ns/a", err: "is not /ns/<namespace>/sa/<service-account>"},
		{in: "spiffe://west/ns/a/sa/b/c", err: "is not /ns/<namespace>/sa/<service-account>"},
		{in: "spiffe://west/sa/b/ns/a", err: "is not /ns/<namespace>/sa/<service-account>"},
		{in: "spiffe://west//ns/a/sa/b", err: "is not /ns/<namespace>/sa/<service-account>"},
		{in: "spiffe://west/ns//sa/b", err: "the namespace is empty"},
		{in: "spiffe://west/ns/a/sa/", err: "ends with '/'"},
		{in: "spiffe://west/ns/A/sa/b", err: `the namespace "A" is not a Kubernetes namespace name`},
		{in: "spiffe://west/ns/a.b/sa/b", err: `the namespace "a.b" is not`},
		{in: "spiffe://west/ns/" + strings.Repeat("a", 64) + "/sa/b", err: "is not a Kubernetes namespace name"},
		{in: "spiffe://west/ns/a/sa/B", err: `the service account "B" is not a Kubernetes ServiceAccount name`},
		{in: "spiffe://west/ns/a/sa/b..c", err: "is not a Kubernetes ServiceAccount name"},
		{in: "spiffe://west/ns/a/sa/b c", err: "is not a Kubernetes ServiceAccount name"},
		{in: "spiffe://west/ns/a/sa/" + strings.Repeat("a", 3000), err: "a SPIFFE ID holds at most 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseID(tt.in)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if err == nil && (got.String() != tt.in || got.URL().String() != tt.in) {
				t.Errorf("String() %q, URL() %q, want both %q", got.String(), got.URL(), tt.in)
			}
		})
	}
}

func TestIDValidate(t *testing.T) {
	tests := []struct {
		id  ID
		err string
	}{
		{ID{"west.meshfed.local", "default", "web"}, ""},
		{ID{"", "default", "web"}, "the trust domain is empty"},
		{ID{"west.meshfed.local", "", "web"}, "the namespace is empty"},
		{ID{"west.meshfed.local", "default", ""}, "the service account is empty"},
		{ID{"west/x", "default", "web"}, "is not a DNS name"},
		{ID{"west", "ns/x", "web"}, "is not a Kubernetes namespace name"},
		{ID{"west", "default", "web/sa/x"}, "is not a Kubernetes ServiceAccount name"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) { checkErr(t, tt.id.Validate(), tt.err) })
	}
}

// sanExtension encodes a subjectAltName of URIs (tag 6) and DNS names (tag 2), as written.
func sanExtension(t *testing.T, uris []string, dns ...string) pkix.Extension {
	t.Helper()
	var names []asn1.RawValue
	for _, u := range uris {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)})
	}
	for _, d := range dns {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)})
	}
	v, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidSubjectAltName(), Value: v}
}

// certWithSANs is a leaf signed by the issuer carrying exactly the SAN extension given.
func certWithSANs(t *testing.T, issuer *CA, exts ...pkix.Extension) *x509.Certificate {
	t.Helper()
	key := mustKey(t, issuer.Key.Curve)
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(7),
		Subject:         pkix.Name{CommonName: "leaf"},
		NotBefore:       testNow.Add(-ClockSkew),
		NotAfter:        testNow.Add(LeafTTL),
		ExtraExtensions: exts,
	}
	c, err := createCertificate(tmpl, issuer.Cert, &key.PublicKey, issuer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIDFromCertificate(t *testing.T) {
	anchor := mustAnchor(t, "anchor")
	issuer := mustIssuer(t, anchor, "identity.west.meshfed")
	const web = "spiffe://west.meshfed.local/ns/default/sa/web"
	tests := []struct {
		name string
		cert *x509.Certificate
		want ID
		err  string
	}{
		{"signed leaf", mustLeaf(t, issuer, mustID(t, web), LeafTTL), ID{"west.meshfed.local", "default", "web"}, ""},
		{"a URI and a DNS name", certWithSANs(t, issuer, sanExtension(t, []string{web}, "web.default.svc")), ID{"west.meshfed.local", "default", "web"}, ""},
		{"no SAN", certWithSANs(t, issuer), ID{}, "holds 0 URI SANs"},
		{"two URIs", certWithSANs(t, issuer, sanExtension(t, []string{web, "spiffe://west.meshfed.local/ns/default/sa/db"})), ID{}, "holds 2 URI SANs"},
		{"upper-case scheme, which url.Parse would lower", certWithSANs(t, issuer, sanExtension(t, []string{"SPIFFE://west.meshfed.local/ns/default/sa/web"})), ID{}, "in lower case"},
		{"an https URI", certWithSANs(t, issuer, sanExtension(t, []string{"https://west.meshfed.local/ns/default/sa/web"})), ID{}, "is not spiffe"},
		{"the anchor", anchor.Cert, ID{}, "holds 0 URI SANs"},
		{"nil", nil, ID{}, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IDFromCertificate(tt.cert)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClusterNames(t *testing.T) {
	tests := []struct {
		cluster, err string
	}{
		{"west", ""},
		{"eu-west-1", ""},
		{strings.Repeat("a", 63), ""},
		{"", "is empty"},
		{"West", "is not a DNS-1123 label"},
		{"west.1", "is not a DNS-1123 label"},
		{"-west", "is not a DNS-1123 label"},
		{strings.Repeat("a", 64), "at most 63"},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			err := ValidateClusterName(tt.cluster)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			// A valid cluster name makes a trust domain that IDs accept.
			id := ID{DefaultTrustDomain(tt.cluster), "default", "web"}
			if err := id.Validate(); err != nil {
				t.Errorf("trust domain %q: %v", id.TrustDomain, err)
			}
		})
	}
	if got := DefaultTrustDomain("west"); got != "west.meshfed.local" {
		t.Errorf("DefaultTrustDomain(west) = %q", got)
	}
	if got := IssuerCommonName("west"); got != "identity.west.meshfed" {
		t.Errorf("IssuerCommonName(west) = %q", got)
	}
}
