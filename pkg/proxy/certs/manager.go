package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Certifier gets a fresh leaf for the proxy's identity: identityclient.Request against the
// identity service in a pod, anything that signs in tests.
type Certifier interface {
	Certify(ctx context.Context) (*identityclient.Leaf, error)
}

// CertifierFunc makes a function a Certifier.
type CertifierFunc func(ctx context.Context) (*identityclient.Leaf, error)

func (f CertifierFunc) Certify(ctx context.Context) (*identityclient.Leaf, error) { return f(ctx) }

// RenewAt is the part of a leaf's life after which it is renewed.
const RenewAt = 0.7

// Manager holds the proxy's current leaf and renews it.
type Manager struct {
	id trust.ID
	// bundle may be replaced while the manager runs (SetBundle): a service that follows the
	// trust bundle ConfigMap takes a new anchor with no restart.
	bundle    atomic.Pointer[trust.Bundle]
	certifier Certifier
	log       *slog.Logger
	now       func() time.Time

	// trustFrom, if set, streams the bundle and the issuer (TrustFrom); trustTaken is told
	// of each state taken.
	trustFrom  identityv1.IdentityClient
	trustTaken func(*identityclient.Trust)
	// renew wakes Run to renew now: the issuer changed under the current leaf.
	renew chan struct{}

	mu      sync.RWMutex
	current *identityclient.Leaf
	cert    *tls.Certificate
	ready   chan struct{}
	once    sync.Once
}

// renewJitter spreads the renewals a new issuer sets off across the proxies of a cluster, so
// the identity service and the apiserver's TokenReviews do not take them all at once.
const renewJitter = time.Second

// NewManager returns a manager for id, whose peers are checked against bundle.
func NewManager(id trust.ID, bundle *trust.Bundle, certifier Certifier, log *slog.Logger) *Manager {
	m := &Manager{id: id, certifier: certifier, log: log, now: time.Now, ready: make(chan struct{}), renew: make(chan struct{}, 1)}
	m.bundle.Store(bundle)
	return m
}

// ID is the proxy's own identity.
func (m *Manager) ID() trust.ID { return m.id }

// Bundle is the trust bundle peers are checked against.
func (m *Manager) Bundle() *trust.Bundle { return m.bundle.Load() }

// SetBundle replaces the trust bundle, for the next handshake and the next leaf. Connections
// already made keep the peers they checked.
func (m *Manager) SetBundle(b *trust.Bundle) { m.bundle.Store(b) }

// TrustFrom makes Run follow the identity service's trust stream as well (WatchTrust): each
// bundle is taken as it comes, and a new issuer has the leaf renewed at once, so that an
// anchor rotation needs no restart. taken, if not nil, is told of each state after it is
// taken. Call it before Run.
func (m *Manager) TrustFrom(client identityv1.IdentityClient, taken func(*identityclient.Trust)) {
	m.trustFrom, m.trustTaken = client, taken
}

// TakeTrust takes a trust state: its bundle for the next handshakes, and a renewal now when
// the current leaf was not signed by its issuer or does not chain to its bundle. Leaves of
// the old issuer keep verifying while the bundle holds its anchor; renewing at once means
// that by the time the old anchor leaves the bundle, no proxy still shows one.
func (m *Manager) TakeTrust(t *identityclient.Trust) {
	m.SetBundle(t.Bundle)
	leaf := m.Leaf()
	if leaf == nil {
		return
	}
	signedByIssuer := len(leaf.Intermediates) > 0 && leaf.Intermediates[0].Equal(t.Issuer)
	_, verifyErr := t.Bundle.Verify(leaf.Certificate, leaf.Intermediates, m.now())
	if signedByIssuer && verifyErr == nil {
		return
	}
	m.log.Info("renewing the leaf: the trust changed under it", "identity", m.id.String(),
		"signedByCurrentIssuer", signedByIssuer, "chainsToBundle", verifyErr == nil)
	select {
	case m.renew <- struct{}{}:
	default: // one is pending already
	}
}

// Ready is closed once the first leaf is held.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Leaf returns the current leaf, nil before the first.
func (m *Manager) Leaf() *identityclient.Leaf {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.current
}

// Run gets a leaf, then renews it at RenewAt of its life, until ctx ends. A failed attempt is
// retried with backoff, capped so that a leaf never expires unrenewed while the identity
// service is reachable at all.
func (m *Manager) Run(ctx context.Context) error {
	if m.trustFrom != nil {
		go identityclient.FollowTrust(ctx, m.trustFrom, m.log, func(t *identityclient.Trust) {
			m.TakeTrust(t)
			if m.trustTaken != nil {
				m.trustTaken(t)
			}
		})
	}
	backoff := 100 * time.Millisecond
	for {
		leaf, err := m.certifier.Certify(ctx)
		if err == nil {
			// A leaf the bundle does not verify (an issuer not yet trusted here) is not taken:
			// peers would refuse it. The current one stays, and the next try comes soon.
			err = m.set(leaf)
		}
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = backoff
			backoff = min(backoff*2, 10*time.Second)
			if cur := m.Leaf(); cur != nil {
				// Never wait past the leaf's end for the next try.
				wait = min(wait, max(time.Until(cur.Certificate.NotAfter)/4, 100*time.Millisecond))
			}
			m.log.Warn("certify failed; retrying", "identity", m.id.String(), "in", wait, "error", err)
		} else {
			backoff = 100 * time.Millisecond
			life := leaf.Certificate.NotAfter.Sub(leaf.Certificate.NotBefore)
			renew := leaf.Certificate.NotBefore.Add(time.Duration(float64(life) * RenewAt))
			wait = max(renew.Sub(m.now()), time.Second)
			m.log.Info("certified", "identity", m.id.String(), "notAfter", leaf.Certificate.NotAfter.UTC(), "renewIn", wait.Round(time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-m.renew:
			t.Stop()
			if !sleepCtx(ctx, rand.N(renewJitter)) {
				return nil
			}
		}
	}
}

// sleepCtx waits d, false if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Set takes leaf as the current one, after checking it names the proxy's identity and
// chains to the bundle. Run calls it; tests may too.
func (m *Manager) Set(leaf *identityclient.Leaf) error { return m.set(leaf) }

func (m *Manager) set(leaf *identityclient.Leaf) error {
	got, err := m.Bundle().Verify(leaf.Certificate, leaf.Intermediates, m.now())
	if err != nil {
		return fmt.Errorf("the identity service's leaf: %w", err)
	}
	if got != m.id {
		return fmt.Errorf("the identity service's leaf names %s, not %s", got, m.id)
	}
	cert := leaf.TLSCertificate()
	m.mu.Lock()
	m.current, m.cert = leaf, cert
	m.mu.Unlock()
	m.once.Do(func() { close(m.ready) })
	return nil
}

// Certificate is the current leaf with its chain, for TLS configs made elsewhere (the
// gateway's gossip); an error before the first leaf.
func (m *Manager) Certificate() (*tls.Certificate, error) { return m.certificate() }

func (m *Manager) certificate() (*tls.Certificate, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.cert == nil {
		return nil, errors.New("no certificate yet: the proxy is still waiting for the identity service")
	}
	return m.cert, nil
}
