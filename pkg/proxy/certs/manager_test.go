package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

var web = trust.ID{TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "web"}

func signer(t *testing.T) (*trust.Bundle, func(id trust.ID, ttl time.Duration) (*identityclient.Leaf, error)) {
	t.Helper()
	now := time.Now()
	anchor, err := trust.NewAnchor("test", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return trust.NewBundle(anchor.Cert), func(id trust.ID, ttl time.Duration) (*identityclient.Leaf, error) {
		leaf, key, err := issuer.IssueLeaf(id, ttl, time.Now())
		if err != nil {
			return nil, err
		}
		return &identityclient.Leaf{Key: key, Certificate: leaf, Intermediates: []*x509.Certificate{issuer.Cert}}, nil
	}
}

// Run renews before the leaf's end, and a failing identity service is retried rather than
// given up on.
func TestRunRenewsAndRetries(t *testing.T) {
	bundle, sign := signer(t)
	var calls atomic.Int32
	m := NewManager(web, bundle, CertifierFunc(func(context.Context) (*identityclient.Leaf, error) {
		if calls.Add(1) == 2 {
			return nil, errors.New("identity service unavailable")
		}
		// Leaves are back-dated a minute for clock skew: a short TTL makes one due at once.
		return sign(web, time.Second)
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-m.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("no leaf after 5s")
	}
	first := m.Leaf()
	deadline := time.Now().Add(10 * time.Second)
	for m.Leaf() == first || calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d certify calls the leaf was not renewed", calls.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A leaf for another identity, or from another anchor, is not taken.
func TestSetChecksTheLeaf(t *testing.T) {
	bundle, sign := signer(t)
	_, strangerSign := signer(t)
	m := NewManager(web, bundle, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	other, err := sign(trust.ID{TrustDomain: web.TrustDomain, Namespace: "shop", ServiceAccount: "db"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := strangerSign(web, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, leaf := range map[string]*identityclient.Leaf{"another identity": other, "another anchor": foreign} {
		if err := m.Set(leaf); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
	if m.Leaf() != nil {
		t.Error("a refused leaf became current")
	}
}
