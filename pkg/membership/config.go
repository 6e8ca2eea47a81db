package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/pkg/trust"
)

// DefaultPort is the gossip port of the design's port table.
const DefaultPort = 7946

// Config is one member's.
type Config struct {
	// Cluster is the name of the cluster this gateway serves, e.g. east. Members carry it to
	// the others, so the link controller can ask about a cluster (ClusterAlive) without
	// knowing its gateways' member names.
	Cluster string
	// Name is the member's name, unique in the pool: the cluster's name for a gateway of one
	// replica, <cluster>-<pod name> for each of several. Empty means Cluster. A member that
	// comes back with the same name (a restarted pod) takes its old place.
	Name string
	// BindAddr is where to listen, e.g. 0.0.0.0:7946 in a pod, 127.0.0.2:0 in a test.
	BindAddr netip.AddrPort
	// AdvertiseAddr is where the other members reach this one: the gateway's LoadBalancer
	// address. Invalid means BindAddr as bound, which must then be a specific address. A zero
	// port means the bound one. Each member needs an address that reaches it alone: replicas
	// behind one shared load-balanced address would answer each other's probes (memberlist
	// ignores a probe meant for another name, so they would flap); give each replica its own
	// port or address, or run one member per cluster.
	AdvertiseAddr netip.AddrPort
	// Credentials prove this member and check its peers, for every connection both ways.
	Credentials Credentials
	// Allowed decides, after the peer's chain has been verified against the bundle, whether
	// its identity may be in the pool: e.g. "is the gateway identity of a cluster we link
	// with". Required; an error refuses the connection and is logged with it.
	Allowed func(trust.ID) error
	// Logger gets the member's own lines and memberlist's (DEBUG to Debug, INFO to Info, WARN
	// and ERR to Warn: memberlist logs at ERR what is routine while a peer is down). Nil
	// discards.
	Logger *slog.Logger
	// Registerer gets the member's metrics; nil registers none. Give each member in one
	// process its own.
	Registerer prometheus.Registerer
	// Timing is the failure detector's; zero fields take DefaultTiming's.
	Timing Timing

	// listen replaces net.Listen in tests that look at the bytes on the wire.
	listen func(network, addr string) (net.Listener, error)
}

// Timing tunes the failure detector (SWIM with Lifeguard, as memberlist implements it).
//
// memberlist's LAN defaults (1 s probes, suspicion 4 intervals scaled up with the pool's
// size, 6 times that before confirmations) take about 5 s to declare a dead member in a small
// pool, and its WAN defaults much longer. A federation's pool is small (a few clusters, one
// to three gateways each) and its links quiet, so DefaultTiming trades a little traffic for a
// detection well under 2 s. How long it takes, for a pool of fewer than 10 members, where
// memberlist does not scale the suspicion up:
//
//	until some member probes the dead one   0 .. 2 × ProbeInterval (each probes its peers in turn, one a round)
//	the probe fails                         ProbeInterval (direct, indirect and TCP tries all get the round)
//	suspicion, then dead                    SuspicionMult × ProbeInterval (with no confirmations: the upper bound)
//	the others hear it                      ~GossipInterval
//
// that is 400 + 200 + 800 + 50 ms ≈ 1.45 s at worst in a pool of three, about 1.2 s
// typically; bench/liveness measures it against a SIGKILL of a gateway's process (until the
// link controller's local gateway holds it Dead): p50 1.15-1.2 s over runs of 10 and 20
// kills, max 1.25 s on a quiet machine and up to 1.7 s on a loaded one (two apiservers
// beside it, and other work driving the load average of its 2 cores to 15-30).
//
// False positives: a live member is declared dead only if for a whole round neither the
// direct probe (within ProbeTimeout), nor the indirect probes through up to three other
// members, nor a direct TCP+TLS probe got an answer, AND it then fails to refute the
// suspicion for SuspicionMult rounds, though every probe sent to it carries the suspicion.
// So ~1 s of lost connectivity between it and every other member. A partition that long is
// what this is meant to see; a shorter stall (a GC pause, a full node) is not declared.
// What the short ProbeTimeout costs on a slow link is more suspicions and more indirect
// probes, not false deaths; links with RTT above ~50 ms (other continents) should raise
// ProbeTimeout and ProbeInterval together.
type Timing struct {
	// ProbeInterval is each member's round: it probes one peer per round. 200 ms.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before asking others to
	// probe indirectly, within the same round: 100 ms, 10× a cross-zone RTT, leaving the
	// round's other half for the indirect probes.
	ProbeTimeout time.Duration
	// SuspicionMult is the suspicion before a member is declared dead, in rounds, for pools
	// under 10 (memberlist multiplies by log10 of the size above that). 4: 800 ms.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion with no confirmations from other members,
	// as a multiple of the above; memberlist needs confirmations to shorten it only in pools
	// of more than SuspicionMult members. 2: at most 1.6 s there, and each other member that
	// suspects it too (they all probe it) shortens that toward 800 ms.
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often a member passes news (a death) on to GossipNodes peers.
	// 50 ms: a death reaches everyone in a round or two; at this pool size the traffic is a
	// few hundred small packets a second at most.
	GossipInterval time.Duration
	// GossipNodes is the fan-out of each gossip round. 3.
	GossipNodes int
	// PushPullInterval is the full state exchange (a stream) that repairs what gossip lost.
	// 10 s.
	PushPullInterval time.Duration
	// GossipToTheDeadTime is how long a dead member is still gossiped to (so a false death
	// can be refuted) and kept in memberlist's table. 30 s.
	GossipToTheDeadTime time.Duration
	// TCPTimeout bounds a stream: a push/pull, a join, the fallback probe's dial. 2 s.
	TCPTimeout time.Duration
	// AwarenessMaxMultiplier is how far a member that sees itself failing (its own probes go
	// unanswered while others' nacks say the network is fine) may slow its probes: Lifeguard's
	// guard against a sick member accusing healthy ones. 4: at most 800 ms rounds.
	AwarenessMaxMultiplier int
}

// DefaultTiming is the timing Config uses for its zero fields; see Timing.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 2,
		GossipInterval:          50 * time.Millisecond,
		GossipNodes:             3,
		PushPullInterval:        10 * time.Second,
		GossipToTheDeadTime:     30 * time.Second,
		TCPTimeout:              2 * time.Second,
		AwarenessMaxMultiplier:  4,
	}
}

// withDefaults fills zero fields from DefaultTiming.
func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDuration(&t.ProbeInterval, d.ProbeInterval)
	setDuration(&t.ProbeTimeout, d.ProbeTimeout)
	setInt(&t.SuspicionMult, d.SuspicionMult)
	setInt(&t.SuspicionMaxTimeoutMult, d.SuspicionMaxTimeoutMult)
	setDuration(&t.GossipInterval, d.GossipInterval)
	setInt(&t.GossipNodes, d.GossipNodes)
	setDuration(&t.PushPullInterval, d.PushPullInterval)
	setDuration(&t.GossipToTheDeadTime, d.GossipToTheDeadTime)
	setDuration(&t.TCPTimeout, d.TCPTimeout)
	setInt(&t.AwarenessMaxMultiplier, d.AwarenessMaxMultiplier)
	return t
}

func (t Timing) validate() error {
	if t.ProbeTimeout >= t.ProbeInterval {
		return fmt.Errorf("ProbeTimeout %s must be shorter than ProbeInterval %s: indirect probes need the rest of the round", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.SuspicionMult < 1 || t.SuspicionMaxTimeoutMult < 1 || t.GossipNodes < 1 || t.AwarenessMaxMultiplier < 1 {
		return errors.New("SuspicionMult, SuspicionMaxTimeoutMult, GossipNodes and AwarenessMaxMultiplier must be positive")
	}
	return nil
}

func (c Config) validate() error {
	if err := trust.ValidateClusterName(c.Cluster); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if !c.BindAddr.IsValid() {
		return errors.New("no BindAddr")
	}
	if c.BindAddr.Addr().IsUnspecified() && (!c.AdvertiseAddr.IsValid() || c.AdvertiseAddr.Addr().IsUnspecified()) {
		return fmt.Errorf("BindAddr %s is no address to reach: give an AdvertiseAddr", c.BindAddr)
	}
	if err := c.Credentials.validate(); err != nil {
		return err
	}
	if c.Allowed == nil {
		return errors.New("no Allowed: every peer's identity must be checked")
	}
	return c.Timing.validate()
}

// memberlistConfig is memberlist's config for c, with its transport and delegates.
func (c Config) memberlistConfig(tr *transport, d *delegate, logger *slog.Logger) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.Transport = tr
	// memberlist hands these to FinalAdvertiseAddr, which answers with the transport's own.
	adv := tr.advertise
	mc.BindAddr, mc.BindPort = c.BindAddr.Addr().String(), int(c.BindAddr.Port())
	mc.AdvertiseAddr, mc.AdvertisePort = adv.Addr().String(), int(adv.Port())

	t := c.Timing
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.PushPullInterval = t.PushPullInterval
	mc.GossipToTheDeadTime = t.GossipToTheDeadTime
	mc.TCPTimeout = t.TCPTimeout
	mc.AwarenessMaxMultiplier = t.AwarenessMaxMultiplier
	// A restarted gateway pod keeps its name but may come back at another address (a
	// replica advertising its pod IP); once the old one is dead, let it.
	mc.DeadNodeReclaimTime = t.GossipToTheDeadTime

	// TLS does the encryption and authentication memberlist's keyring would; packets are a
	// few hundred bytes, not worth compressing.
	mc.EnableCompression = false
	mc.SecretKey, mc.Keyring = nil, nil
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = false, false
	// Packets are framed on TCP, not bound by a datagram; memberlist still packs its
	// gossip under this, which keeps frames far below MaxPacketSize.
	mc.UDPBufferSize = packetBufferSize
	// No names are resolved: every address is an IP.
	mc.DNSConfigPath = ""

	mc.Delegate = d
	mc.Events = d
	mc.Ping = d
	mc.LogOutput = nil
	mc.Logger = newMemberlistLogger(logger)
	return mc
}

// packetBufferSize is memberlist's UDPBufferSize here: what it packs gossip into.
const packetBufferSize = 1400
