package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

func TestParseIssuer(t *testing.T) {
	p := newPKI(t, nil)
	stranger := newPKI(t, nil)
	good := p.secretData(t)
	with := func(k string, v []byte) map[string][]byte {
		d := map[string][]byte{}
		for kk, vv := range good {
			d[kk] = vv
		}
		d[k] = v
		return d
	}
	strangerKey, err := stranger.issuer.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data map[string][]byte
		err  string
	}{
		{name: "sound", data: good},
		{name: "no key", data: with(corev1.TLSPrivateKeyKey, nil), err: "no tls.key"},
		{name: "no anchors", data: with(corev1.ServiceAccountRootCAKey, nil), err: "no ca.crt"},
		{name: "key of another issuer", data: with(corev1.TLSPrivateKeyKey, strangerKey), err: "issuer Secret"},
		{name: "another anchor", data: with(corev1.ServiceAccountRootCAKey, trust.EncodeCertificates(stranger.anchor.Cert)), err: "does not chain"},
		{name: "not PEM", data: with(corev1.TLSCertKey, []byte("garbage")), err: "issuer Secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseIssuer(tt.data, time.Now())
			if tt.err == "" && err != nil {
				t.Fatalf("ParseIssuer: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("ParseIssuer = %v; want an error with %q", err, tt.err)
			}
		})
	}
}

// TestIssuerReload is a renewal: a new issuer from the same anchor is taken, new leaves chain
// to it, leaves of the old one still verify, and an unsound Secret changes nothing.
func TestIssuerReload(t *testing.T) {
	first := newPKI(t, nil)
	second := newPKI(t, first.anchor)
	changes := 0
	issuers := NewIssuerStore(func(*Issuer) { changes++ })
	if _, err := issuers.Load(first.secretData(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	web := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}
	client := serve(t, newServer(t, issuers, fakeReviewer{}), issuers, first.bundle())
	old, err := identityclient.Request(context.Background(), client, web, []byte("shop/web"))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := issuers.Load(second.secretData(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := issuers.Load(second.secretData(t), time.Now()); err != nil || changes != 2 {
		t.Fatalf("the same issuer loaded twice: %v, %d changes; want 2", err, changes)
	}
	bad := second.secretData(t)
	bad[corev1.ServiceAccountRootCAKey] = trust.EncodeCertificates(newPKI(t, nil).anchor.Cert)
	if _, err := issuers.Load(bad, time.Now()); err == nil {
		t.Fatal("an issuer that does not chain to its ca.crt was taken")
	}

	renewed, err := identityclient.Request(context.Background(), client, web, []byte("shop/web"))
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.Intermediates[0].Equal(second.issuer.Cert) {
		t.Errorf("new leaf chains to %s; want the renewed issuer", renewed.Intermediates[0].Subject)
	}
	for name, l := range map[string]*identityclient.Leaf{"old": old, "new": renewed} {
		if _, err := first.bundle().Verify(l.Certificate, l.Intermediates, time.Now()); err != nil {
			t.Errorf("%s leaf does not verify with the bundle: %v", name, err)
		}
	}
}
