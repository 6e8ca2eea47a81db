package membership

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshfed/meshfed/pkg/trust"
)

// pki is a federation's trust: one anchor, an issuer per cluster.
type pki struct {
	anchor  *trust.CA
	issuers map[string]*trust.CA
	// alsoTrusted are anchors its members trust beside their own.
	alsoTrusted []*trust.CA
}

func newPKI(t testing.TB, clusters ...string) *pki {
	t.Helper()
	now := time.Now()
	anchor, err := trust.NewAnchor("membership test anchor", 24*time.Hour, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{anchor: anchor, issuers: map[string]*trust.CA{}}
	for _, c := range clusters {
		iss, err := trust.NewIssuer(anchor, trust.IssuerCommonName(c), 12*time.Hour, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		p.issuers[c] = iss
	}
	return p
}

// gatewayID is a cluster's gateway identity, as a Link's gatewayIdentity names it.
func gatewayID(cluster string) trust.ID {
	return trust.ID{TrustDomain: trust.DefaultTrustDomain(cluster), Namespace: "mesh-multicluster", ServiceAccount: "meshfed-gateway"}
}

// credentials are cluster's gateway leaf, issued by its issuer, checked against the anchor.
func (p *pki) credentials(t testing.TB, cluster string) Credentials {
	t.Helper()
	iss := p.issuers[cluster]
	leaf, key, err := iss.IssueLeaf(gatewayID(cluster), time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{leaf.Raw, iss.Cert.Raw}, PrivateKey: key, Leaf: leaf}
	bundle := trust.NewBundle(p.anchor.Cert)
	for _, a := range p.alsoTrusted {
		bundle = bundle.Add(a.Cert)
	}
	return Credentials{
		Certificate: func() (*tls.Certificate, error) { return cert, nil },
		Bundle:      func() *trust.Bundle { return bundle },
	}
}

// allowGateways allows the gateway identities of clusters, and no other.
func allowGateways(clusters ...string) func(trust.ID) error {
	return func(id trust.ID) error {
		for _, c := range clusters {
			if id == gatewayID(c) {
				return nil
			}
		}
		return fmt.Errorf("%s is not the gateway of a linked cluster", id)
	}
}

// logBuffer collects a member's log lines, safe for its goroutines, and never writes to the
// test's output (which must not be written after the test ends).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testMember is a member with what a test looks at.
type testMember struct {
	*Member
	reg *prometheus.Registry
	log *logBuffer
}

// start starts a member of cluster at bind (port 0 for any), credentials from p, allowing
// the gateways of allowed. mods change the config before the start. It is shut down when the
// test ends.
func start(t testing.TB, p *pki, cluster string, bind netip.AddrPort, allowed []string, mods ...func(*Config)) *testMember {
	t.Helper()
	lb := &logBuffer{}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Cluster:     cluster,
		BindAddr:    bind,
		Credentials: p.credentials(t, cluster),
		Allowed:     allowGateways(allowed...),
		Logger:      slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registerer:  reg,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Shutdown()
		if t.Failed() {
			t.Logf("log of %s:\n%s", m.Name(), lb.String())
		}
	})
	return &testMember{Member: m, reg: reg, log: lb}
}

func loopback(last byte) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, last}), 0)
}

// stateOf says what m thinks of name: its state, or an error when it does not list it.
func stateOf(m *Member, name string) (State, error) {
	st, ok := m.Status(name)
	if !ok {
		return 0, fmt.Errorf("%s does not list %s (it lists %v)", m.Name(), name, names(m.Members()))
	}
	return st.State, nil
}

// sees returns a condition: every member in ms lists name in state.
func sees(name string, want State, ms ...*testMember) func() error {
	return func() error {
		for _, m := range ms {
			got, err := stateOf(m.Member, name)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s sees %s %s, want %s", m.Name(), name, got, want)
			}
		}
		return nil
	}
}

func names(ss []Status) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Name+"="+s.State.String())
	}
	slices.Sort(out)
	return out
}

func refusedCount(m *testMember, direction, reason string) float64 {
	return testutil.ToFloat64(m.metrics.refused.WithLabelValues(direction, reason))
}
