package identity

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

// WatchTrust sends nothing until both the bundle and the issuer are known, then the state at
// each change: what a proxy follows through an anchor rotation.
func TestWatchTrust(t *testing.T) {
	old := newPKI(t, nil)
	state := NewTrustState()
	issuers := NewIssuerStore(func(iss *Issuer) { state.SetIssuer(iss.CA.Cert) })
	if _, err := issuers.Load(old.secretData(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Options{TrustDomain: testDomain, Issuers: issuers, Tokens: fakeReviewer{}, Trust: state, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	client := serve(t, srv, issuers, old.bundle())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan *identityclient.Trust, 8)
	go identityclient.FollowTrust(ctx, client, slog.New(slog.NewTextHandler(io.Discard, nil)), func(tr *identityclient.Trust) { got <- tr })
	next := func(step string) *identityclient.Trust {
		t.Helper()
		select {
		case tr := <-got:
			return tr
		case <-ctx.Done():
			t.Fatalf("%s: no trust state streamed", step)
			return nil
		}
	}

	state.SetBundle(string(old.bundle().PEM()))
	first := next("the bundle known")
	if !first.Issuer.Equal(old.issuer.Cert) || len(first.Bundle.Anchors()) != 1 {
		t.Fatalf("first state: issuer %s, %d anchors", first.Issuer.Subject, len(first.Bundle.Anchors()))
	}

	fresh := newPKI(t, nil)
	both := trust.NewBundle(old.anchor.Cert, fresh.anchor.Cert)
	state.SetBundle(string(both.PEM()))
	state.SetBundle(string(both.PEM())) // the same again: no message
	if tr := next("the new anchor added"); len(tr.Bundle.Anchors()) != 2 {
		t.Fatalf("after the new anchor was added: %d anchors", len(tr.Bundle.Anchors()))
	}
	data := fresh.secretData(t)
	data["ca.crt"] = both.PEM()
	if _, err := issuers.Load(data, time.Now()); err != nil {
		t.Fatal(err)
	}
	if tr := next("the issuer reissued"); !tr.Issuer.Equal(fresh.issuer.Cert) || len(tr.Bundle.Anchors()) != 2 {
		t.Fatalf("after the reissue: issuer %s, %d anchors", tr.Issuer.Subject, len(tr.Bundle.Anchors()))
	}
	select {
	case tr := <-got:
		t.Fatalf("a state with no change: issuer %s, %d anchors", tr.Issuer.Subject, len(tr.Bundle.Anchors()))
	default:
	}
}
