package identity

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/trust"
)

// BenchmarkCertify is the service's own work on one request, with a TokenReview that costs
// nothing: called directly, and over gRPC with TLS 1.3 on loopback. Beside it, the signature
// alone, which the service cannot do without. bench/identity times the same against a real
// apiserver.
func BenchmarkCertify(b *testing.B) {
	p := newPKI(b, nil)
	issuers := NewIssuerStore(nil)
	if _, err := issuers.Load(p.secretData(b), time.Now()); err != nil {
		b.Fatal(err)
	}
	web := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}
	srv := newServer(b, issuers, fakeReviewer{})
	req := &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: csrFor(b, web)}
	ctx := context.Background()

	b.Run("signature alone", func(b *testing.B) {
		csr, err := x509.ParseCertificateRequest(req.CertificateSigningRequest)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := issuers.Current().CA.SignLeaf(csr, web, DefaultLeafTTL, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := srv.Certify(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gRPC", func(b *testing.B) {
		client := serve(b, srv, issuers, p.bundle())
		for b.Loop() {
			if _, err := client.Certify(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
