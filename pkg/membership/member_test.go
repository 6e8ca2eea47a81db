package membership

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/pkg/trust"
)

var clusters = []string{"east", "west", "north"}

// startPool starts east, west and north on 127.0.0.1, .2 and .3, each allowing the three,
// and joins west and north to east.
func startPool(t *testing.T, p *pki) []*testMember {
	t.Helper()
	var ms []*testMember
	for i, c := range clusters {
		ms = append(ms, start(t, p, c, loopback(byte(i+1)), clusters))
	}
	for _, m := range ms[1:] {
		if n, err := m.Join(context.Background(), []netip.AddrPort{ms[0].Addr()}); err != nil || n != 1 {
			t.Fatalf("%s joining east: %d, %v", m.Name(), n, err)
		}
	}
	return ms
}

func TestPoolSeesEveryMemberAlive(t *testing.T) {
	p := newPKI(t, clusters...)
	ms := startPool(t, p)
	for _, c := range clusters {
		testenv.Eventually(t, 5*time.Second, "every member to see "+c+" alive", sees(c, Alive, ms...))
	}
	for _, m := range ms {
		for _, c := range clusters {
			if !m.ClusterAlive(c) {
				t.Errorf("%s: ClusterAlive(%s) is false", m.Name(), c)
			}
		}
		if m.ClusterAlive("south") {
			t.Errorf("%s: ClusterAlive(south), a cluster with no member", m.Name())
		}
	}
	// Probes are answered, and their RTT recorded on the status and in the histogram.
	testenv.Eventually(t, 5*time.Second, "east to have measured a probe's RTT of west", func() error {
		if st, _ := ms[0].Status("west"); st.RTT <= 0 {
			return fmt.Errorf("west's RTT is %s", st.RTT)
		}
		return nil
	})
	st, _ := ms[0].Status("west")
	if st.Addr != ms[1].Addr() || st.Cluster != "west" {
		t.Errorf("east sees west as %+v, want address %s cluster west", st, ms[1].Addr())
	}
	for _, name := range []string{
		"meshfed_membership_probe_rtt_seconds", "meshfed_membership_transport_bytes_total", "meshfed_membership_members",
	} {
		if n, err := testutil.GatherAndCount(ms[0].reg, name); err != nil || n == 0 {
			t.Errorf("metric %s: %d series, %v", name, n, err)
		}
	}
	if got := testutil.ToFloat64(ms[0].metrics.packetReceived); got == 0 {
		t.Error("east counted no packet bytes received")
	}
	if got := testutil.ToFloat64(ms[0].metrics.streamReceived); got == 0 {
		t.Error("east counted no stream bytes received (joins are streams)")
	}
	alive := `meshfed_membership_members{state="alive"} 3`
	if err := testutil.GatherAndCompare(ms[0].reg, strings.NewReader(`# HELP meshfed_membership_members Members of the gossip pool as this member sees them, by state; itself included. Dead and Left are kept for a while after the change.
# TYPE meshfed_membership_members gauge
`+alive+`
meshfed_membership_members{state="dead"} 0
meshfed_membership_members{state="left"} 0
meshfed_membership_members{state="suspect"} 0
`), "meshfed_membership_members"); err != nil {
		t.Error(err)
	}
}

// An intruder is refused however it fails the check, whichever side dials, and never listed.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// intruder makes the intruder's PKI and its cluster's name.
		intruder func(t *testing.T, federation *pki) (*pki, string)
		// want is the reason east counts for a refused inbound connection, and for an
		// outbound one when east dials the intruder.
		inbound, outbound string
	}{{
		name: "chains to another anchor",
		intruder: func(t *testing.T, federation *pki) (*pki, string) {
			// Same cluster name and identity as a linked cluster, issued under another
			// anchor; it trusts the federation's anchor (which is public) so that it goes
			// as far as showing its certificate.
			p := newPKI(t, "west")
			p.alsoTrusted = []*trust.CA{federation.anchor}
			return p, "west"
		},
		inbound: reasonUntrusted, outbound: reasonUntrusted,
	}, {
		name: "identity not allowed",
		intruder: func(t *testing.T, federation *pki) (*pki, string) {
			// south's issuer chains to the federation's anchor; east does not link with south.
			return federation, "south"
		},
		inbound: reasonNotAllowed, outbound: reasonNotAllowed,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			federation := newPKI(t, "east", "south")
			east := start(t, federation, "east", loopback(1), []string{"east", "west"})
			ip, cluster := tc.intruder(t, federation)
			// The intruder allows everyone: only east's checks stand in its way.
			intruder := start(t, ip, cluster, loopback(2), nil, func(c *Config) {
				c.Name = "intruder"
				c.Allowed = func(trust.ID) error { return nil }
			})

			// The intruder dials east.
			if n, err := intruder.Join(context.Background(), []netip.AddrPort{east.Addr()}); err == nil && n > 0 {
				t.Errorf("the intruder joined east: %d", n)
			}
			testenv.Eventually(t, 5*time.Second, "east to count an inbound refusal", func() error {
				if got := refusedCount(east, "inbound", tc.inbound); got == 0 {
					return fmt.Errorf("no inbound %s refusal", tc.inbound)
				}
				return nil
			})
			// East dials the intruder.
			if n, err := east.Join(context.Background(), []netip.AddrPort{intruder.Addr()}); err == nil && n > 0 {
				t.Errorf("east joined the intruder: %d", n)
			}
			if got := refusedCount(east, "outbound", tc.outbound); got == 0 {
				t.Errorf("east counted no outbound %s refusal", tc.outbound)
			}
			for _, m := range []*testMember{east, intruder} {
				if ss := m.Members(); len(ss) != 1 {
					t.Errorf("%s lists %v, want only itself", m.Name(), names(ss))
				}
			}
			log := east.log.String()
			for _, want := range []string{`msg="membership: refused connection"`, "direction=inbound", "reason=" + tc.inbound, "direction=outbound", "remote=127.0.0.2:"} {
				if !strings.Contains(log, want) {
					t.Errorf("east's log has no %q:\n%s", want, log)
				}
			}
		})
	}
}

// A client without a certificate gets no further than the handshake.
func TestRefusedWithoutCertificate(t *testing.T) {
	p := newPKI(t, "east")
	east := start(t, p, "east", loopback(1), []string{"east"})
	for _, proto := range []string{alpnPacket, alpnStream} {
		c, err := tls.Dial("tcp", east.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}, MinVersion: tls.VersionTLS13})
		if err == nil {
			// TLS 1.3: the client finishes before the server has checked it; the refusal
			// comes on the first read.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: a client with no certificate was served", proto)
		}
	}
	// The client may read the server's alert before the server has counted the refusal.
	deadline := time.Now().Add(5 * time.Second)
	for refusedCount(east, "inbound", reasonNoCertificate) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := refusedCount(east, "inbound", reasonNoCertificate); got != 2 {
		t.Errorf("east counted %v no_certificate refusals after 5s, want 2", got)
	}
}

// A member that stops is declared Dead by the others, the moment a subscriber hears of it,
// and comes back Alive when it starts again with its name; one that leaves is Left.
func TestStoppedMemberIsDeadThenBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*testMember)
		want State
	}{
		{"shutdown without leave", func(m *testMember) { m.Shutdown() }, Dead},
		// The listener and every connection close, as when the process is killed; memberlist
		// runs on, unable to send.
		{"listener closed abruptly", func(m *testMember) { m.tr.Shutdown() }, Dead},
		{"leave", func(m *testMember) {
			if err := m.Leave(context.Background()); err != nil {
				panic(err)
			}
			m.Shutdown()
		}, Left},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t, clusters...)
			ms := startPool(t, p)
			east, west, north := ms[0], ms[1], ms[2]
			testenv.Eventually(t, 5*time.Second, "north alive everywhere", sees("north", Alive, east, west))
			events, cancel := east.Subscribe()
			defer cancel()

			stopped := time.Now()
			tc.stop(north)
			testenv.Eventually(t, 5*time.Second, "north "+tc.want.String()+" to east and west", sees("north", tc.want, east, west))
			t.Logf("north %s to both after %s", tc.want, time.Since(stopped).Round(time.Millisecond))
			if east.ClusterAlive("north") {
				t.Error("ClusterAlive(north) after north stopped")
			}
			waitEvent(t, events, "north", tc.want)

			// Back with the same name at the same address.
			back := start(t, p, "north", north.Addr(), clusters)
			if n, err := back.Join(context.Background(), []netip.AddrPort{east.Addr()}); err != nil || n != 1 {
				t.Fatalf("north joining again: %d, %v", n, err)
			}
			testenv.Eventually(t, 5*time.Second, "north alive again to east and west", sees("north", Alive, east, west))
			waitEvent(t, events, "north", Alive)
			testenv.Eventually(t, 5*time.Second, "the new north to see east and west", func() error {
				return sees("east", Alive, back)()
			})
		})
	}
}

func waitEvent(t *testing.T, events <-chan Event, name string, want State) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("events closed")
			}
			if e.Name == name && e.State == want {
				return
			}
		case <-deadline:
			t.Fatalf("no event of %s %s", name, want)
		}
	}
}

func TestSubscribeEndsWithShutdown(t *testing.T) {
	p := newPKI(t, "east")
	east := start(t, p, "east", loopback(1), []string{"east"})
	events, _ := east.Subscribe()
	east.Shutdown()
	for range events {
	}
	if ev, _ := east.Subscribe(); ev != nil {
		if _, ok := <-ev; ok {
			t.Error("a subscription after Shutdown is open")
		}
	}
}

func TestConfigRefused(t *testing.T) {
	p := newPKI(t, "east")
	good := Config{Cluster: "east", BindAddr: loopback(1), Credentials: p.credentials(t, "east"), Allowed: allowGateways("east")}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no cluster", func(c *Config) { c.Cluster = "" }, "cluster"},
		{"no bind address", func(c *Config) { c.BindAddr = netip.AddrPort{} }, "BindAddr"},
		{"no Allowed", func(c *Config) { c.Allowed = nil }, "Allowed"},
		{"no bundle", func(c *Config) { c.Credentials.Bundle = nil }, "Bundle"},
		{"probe timeout over the interval", func(c *Config) { c.Timing.ProbeTimeout = time.Second }, "ProbeTimeout"},
		{"unspecified bind, no advertise", func(c *Config) { c.BindAddr = netip.MustParseAddrPort("0.0.0.0:0") }, "AdvertiseAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mod(&cfg)
			m, err := New(context.Background(), cfg)
			if err == nil {
				m.Shutdown()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}
