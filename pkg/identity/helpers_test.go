package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

const testDomain = "west.meshfed.local"

var serviceID = trust.ID{TrustDomain: testDomain, Namespace: "mesh-system", ServiceAccount: "meshfed-identity"}

// pki is an anchor and an issuer signed by it, as an issuer Secret holds them.
type pki struct {
	anchor, issuer *trust.CA
}

func newPKI(t testing.TB, anchor *trust.CA) pki {
	t.Helper()
	now := time.Now()
	var err error
	if anchor == nil {
		if anchor, err = trust.NewAnchor("test anchor", 96*time.Hour, now); err != nil {
			t.Fatal(err)
		}
	}
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return pki{anchor: anchor, issuer: issuer}
}

func (p pki) secretData(t testing.TB) map[string][]byte {
	t.Helper()
	key, err := p.issuer.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		corev1.TLSCertKey:              p.issuer.CertPEM(),
		corev1.TLSPrivateKeyKey:        key,
		corev1.ServiceAccountRootCAKey: trust.EncodeCertificates(p.anchor.Cert),
	}
}

func (p pki) bundle() *trust.Bundle { return trust.NewBundle(p.anchor.Cert) }

// fakeReviewer answers as an API server would for the tokens it knows: "<ns>/<sa>" is a good
// token for that ServiceAccount.
type fakeReviewer struct {
	err error
}

func (f fakeReviewer) Review(_ context.Context, token string) (Review, error) {
	if f.err != nil {
		return Review{}, f.err
	}
	switch token {
	case "expired":
		return Review{Error: "[invalid bearer token, service account token has expired]"}, nil
	case "other-audience":
		return Review{Error: "token audiences [\"api\"] is invalid for the target audiences [\"identity.meshfed.io\"]"}, nil
	case "user":
		return Review{Authenticated: true, Username: "alice", Audiences: []string{Audience}}, nil
	}
	ns, sa, ok := cutToken(token)
	if !ok {
		return Review{Error: "invalid bearer token"}, nil
	}
	return Review{Authenticated: true, Username: serviceAccountPrefix + ns + ":" + sa, Audiences: []string{Audience}}, nil
}

func cutToken(t string) (string, string, bool) {
	for i := range t {
		if t[i] == '/' {
			return t[:i], t[i+1:], i > 0 && i < len(t)-1
		}
	}
	return "", "", false
}

// serve runs srv on loopback behind its serving certificate and returns a client.
func serve(t testing.TB, srv *Server, issuers *IssuerStore, bundle *trust.Bundle) identityv1.IdentityClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(NewServingCertificate(serviceID, issuers, nil).TLSConfig())))
	identityv1.RegisterIdentityServer(g, srv)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := identityclient.Dial(lis.Addr().String(), bundle, serviceID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return identityv1.NewIdentityClient(conn)
}

func newServer(t testing.TB, issuers *IssuerStore, tokens TokenReviewer) *Server {
	t.Helper()
	srv, err := NewServer(Options{TrustDomain: testDomain, Issuers: issuers, Tokens: tokens, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func csrFor(t testing.TB, id trust.ID) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := trust.NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var errAPIServerDown = errors.New("dial tcp 198.18.0.11:6443: connect: connection refused")
