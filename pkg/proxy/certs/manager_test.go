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

	"github.com/prometheus/client_golang/prometheus"

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

// A rotation as the identity service streams it: the new anchor joins the bundle, the issuer
// changes and the leaf is renewed at once, then the old anchor goes and the leaf still
// verifies. A leaf from an issuer the bundle does not trust yet is not taken.
func TestTakeTrustFollowsARotation(t *testing.T) {
	now := time.Now()
	mk := func(name string) (*x509.Certificate, *trust.CA) {
		anchor, err := trust.NewAnchor(name, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		return anchor.Cert, issuer
	}
	oldAnchor, oldIssuer := mk("old")
	newAnchor, newIssuer := mk("new")
	var signing atomic.Pointer[trust.CA]
	signing.Store(oldIssuer)
	m := NewManager(web, trust.NewBundle(oldAnchor), CertifierFunc(func(context.Context) (*identityclient.Leaf, error) {
		iss := signing.Load()
		leaf, key, err := iss.IssueLeaf(web, time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		return &identityclient.Leaf{Key: key, Certificate: leaf, Intermediates: []*x509.Certificate{iss.Cert}}, nil
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
	waitForIssuer := func(want *trust.CA, step string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !m.Leaf().Intermediates[0].Equal(want.Cert) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the leaf is still signed by %s after 10s", step, m.Leaf().Intermediates[0].Subject)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The issuer changes before the bundle trusts its anchor: the renewal's leaf is refused.
	signing.Store(newIssuer)
	m.TakeTrust(&identityclient.Trust{Bundle: trust.NewBundle(oldAnchor), Issuer: newIssuer.Cert})
	if err := m.Set(mustSign(t, newIssuer)); err == nil {
		t.Fatal("a leaf of an anchor the bundle lacks was taken")
	}

	both := trust.NewBundle(oldAnchor, newAnchor)
	m.TakeTrust(&identityclient.Trust{Bundle: both, Issuer: newIssuer.Cert})
	waitForIssuer(newIssuer, "both anchors, the new issuer")

	m.TakeTrust(&identityclient.Trust{Bundle: trust.NewBundle(newAnchor), Issuer: newIssuer.Cert})
	if _, err := m.Bundle().Verify(m.Leaf().Certificate, m.Leaf().Intermediates, time.Now()); err != nil {
		t.Fatalf("the old anchor gone: the leaf does not verify: %v", err)
	}
	if m.Bundle().Contains(oldAnchor) {
		t.Error("the old anchor is still in the bundle")
	}

	// What a user checks a rotation by: the metrics name the new anchor only.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := trust.Fingerprint(newAnchor)[:16]
	labels := map[string][]string{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "anchor" {
					labels[f.GetName()] = append(labels[f.GetName()], l.GetValue())
				}
			}
		}
	}
	for _, name := range []string{"meshfed_identity_leaf_info", "meshfed_trust_anchor_info"} {
		if got := labels[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s anchors %v, want [%s]", name, got, want)
		}
	}
}

func mustSign(t *testing.T, iss *trust.CA) *identityclient.Leaf {
	t.Helper()
	leaf, key, err := iss.IssueLeaf(web, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &identityclient.Leaf{Key: key, Certificate: leaf, Intermediates: []*x509.Certificate{iss.Cert}}
}
