package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

func TestCertify(t *testing.T) {
	p := newPKI(t, nil)
	issuers := NewIssuerStore(nil)
	if _, err := issuers.Load(p.secretData(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	web := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}
	client := serve(t, newServer(t, issuers, fakeReviewer{}), issuers, p.bundle())

	leaf, err := identityclient.Request(context.Background(), client, web, []byte("shop/web"))
	if err != nil {
		t.Fatalf("Certify for the token's own identity: %v", err)
	}
	got, err := p.bundle().Verify(leaf.Certificate, leaf.Intermediates, time.Now())
	if err != nil || got != web {
		t.Fatalf("leaf verifies as %v, %v; want %s", got, err, web)
	}
	if life := time.Until(leaf.Certificate.NotAfter); life < 23*time.Hour || life > 24*time.Hour {
		t.Errorf("leaf lives %s more; want about %s", life, DefaultLeafTTL)
	}
}

func TestCertifyRefuses(t *testing.T) {
	p := newPKI(t, nil)
	issuers := NewIssuerStore(nil)
	if _, err := issuers.Load(p.secretData(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	web := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}
	db := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "db"}
	other := trust.ID{TrustDomain: "east.meshfed.local", Namespace: "shop", ServiceAccount: "web"}

	tests := []struct {
		name    string
		req     *identityv1.CertifyRequest
		tokens  TokenReviewer
		issuers *IssuerStore
		code    codes.Code
		msg     string
	}{
		{name: "CSR for another identity",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: csrFor(t, db)},
			code: codes.InvalidArgument, msg: "asks for " + db.String()},
		{name: "another ServiceAccount's token",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/db"), CertificateSigningRequest: csrFor(t, web)},
			code: codes.PermissionDenied, msg: "token proves " + db.String()},
		{name: "expired token",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("expired"), CertificateSigningRequest: csrFor(t, web)},
			code: codes.Unauthenticated, msg: "has expired"},
		{name: "token for another audience",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("other-audience"), CertificateSigningRequest: csrFor(t, web)},
			code: codes.Unauthenticated, msg: "audience"},
		{name: "a user's token",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("user"), CertificateSigningRequest: csrFor(t, web)},
			code: codes.PermissionDenied, msg: "not a ServiceAccount"},
		{name: "no token",
			req:  &identityv1.CertifyRequest{Identity: web.String(), CertificateSigningRequest: csrFor(t, web)},
			code: codes.InvalidArgument, msg: "token is empty"},
		{name: "oversized token",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: make([]byte, MaxTokenBytes+1), CertificateSigningRequest: csrFor(t, web)},
			code: codes.InvalidArgument, msg: "token is"},
		{name: "malformed CSR",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: []byte("not a CSR")},
			code: codes.InvalidArgument, msg: "certificate_signing_request"},
		{name: "oversized CSR",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: make([]byte, trust.MaxCSRBytes+1)},
			code: codes.InvalidArgument, msg: "at most"},
		{name: "CSR with extra SANs",
			req:  &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: csrWithExtraSANs(t, web)},
			code: codes.InvalidArgument, msg: "certificate_signing_request"},
		{name: "malformed identity",
			req:  &identityv1.CertifyRequest{Identity: "spiffe://west.meshfed.local/ns/shop", Token: []byte("shop/web"), CertificateSigningRequest: csrFor(t, web)},
			code: codes.InvalidArgument, msg: "identity"},
		{name: "another cluster's trust domain",
			req:  &identityv1.CertifyRequest{Identity: other.String(), Token: []byte("shop/web"), CertificateSigningRequest: csrFor(t, other)},
			code: codes.PermissionDenied, msg: "trust domain"},
		{name: "API server unreachable",
			req:    &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: csrFor(t, web)},
			tokens: fakeReviewer{err: errAPIServerDown}, code: codes.Unavailable, msg: "cannot check the token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := tt.tokens
			if tokens == nil {
				tokens = fakeReviewer{}
			}
			srv := newServer(t, issuers, tokens)
			_, err := srv.Certify(context.Background(), tt.req)
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.msg) {
				t.Fatalf("Certify = %v; want code %s with %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestCertifyBeforeIssuer(t *testing.T) {
	web := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}
	srv := newServer(t, NewIssuerStore(nil), fakeReviewer{})
	_, err := srv.Certify(context.Background(), &identityv1.CertifyRequest{Identity: web.String(), Token: []byte("shop/web"), CertificateSigningRequest: csrFor(t, web)})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Certify with no issuer = %v; want Unavailable", err)
	}
}

// csrWithExtraSANs asks for the identity and, besides, a DNS name and an IP.
func csrWithExtraSANs(t *testing.T, id trust.ID) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id.String())
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "web"}, URIs: []*url.URL{u}, DNSNames: []string{"kubernetes.default.svc"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
