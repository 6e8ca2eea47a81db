package membership

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's state as this member sees it.
type State int

const (
	// Alive: in the pool and answering.
	Alive State = iota
	// Suspect: still in the pool, but this member's own direct probes of it have gone
	// unanswered for two of its turns. memberlist v0.7.0 does not tell when the pool
	// suspects a member (its Node.State is never set), so this is our own view, not the
	// pool's verdict; a member reachable only through others shows as Suspect here. Act on
	// Dead, watch Suspect.
	Suspect
	// Dead: the pool declared it dead (no answer, suspicion not refuted).
	Dead
	// Left: it said goodbye (Leave) before going.
	Left
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	case Left:
		return "left"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status is one member as this member sees it.
type Status struct {
	Name    string
	Cluster string
	Addr    netip.AddrPort
	State   State
	// Since is when this member saw State begin.
	Since time.Time
	// RTT is the round trip of this member's last answered direct probe of it: 0 before the
	// first, and for itself.
	RTT time.Duration
}

// Event says a member's state changed. It carries the member's status when the event is
// delivered, not when it changed: a subscriber that falls behind gets one event per member
// with the latest status, never a stale one, and never loses a member. Treat it as "look at
// this member again", as a reconciler treats a request.
type Event struct {
	Status
}

// Member is this gateway's place in the gossip pool.
type Member struct {
	cfg     Config
	log     *slog.Logger
	tr      *transport
	list    *memberlist.Memberlist
	metrics *metrics
	// suspectAfter is how long after its last answered direct probe a member is Suspect.
	timing Timing

	mu      sync.Mutex
	members map[string]*record
	subs    map[*subscriber]struct{}
	leaving bool
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// record is a member's Status and what Suspect is judged by.
type record struct {
	Status
	lastAck time.Time // its last answered direct probe, or when it became alive
	self    bool
}

// deadRetention is how long Members keeps listing a Dead or Left member that did not come
// back: long enough for a controller to see it, short enough that replaced pods' names do
// not pile up.
const deadRetention = 10 * time.Minute

// New starts a member: it listens on cfg.BindAddr at once and is alone in its pool until
// Join. ctx bounds the start only; the member runs until Shutdown, so that a request's
// context cannot end it by accident.
func New(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Cluster
	}
	cfg.Timing = cfg.Timing.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("member", cfg.Name)
	m := &Member{
		cfg:     cfg,
		log:     log,
		metrics: newMetrics(),
		timing:  cfg.Timing,
		members: map[string]*record{},
		subs:    map[*subscriber]struct{}{},
		stop:    make(chan struct{}),
	}
	if cfg.Registerer != nil {
		if err := m.metrics.register(cfg.Registerer, m.count); err != nil {
			return nil, fmt.Errorf("membership: metrics: %w", err)
		}
	}
	tr, err := newTransport(transportConfig{
		bind: cfg.BindAddr, advertise: cfg.AdvertiseAddr,
		creds: cfg.Credentials, allowed: cfg.Allowed,
		dialWait: cfg.Timing.ProbeTimeout,
		log:      log, metrics: m.metrics,
		listen: cfg.listen,
	})
	if err != nil {
		return nil, err
	}
	m.tr = tr
	list, err := memberlist.Create(cfg.memberlistConfig(tr, &delegate{m}, log))
	if err != nil {
		tr.Shutdown()
		return nil, fmt.Errorf("membership: %w", err)
	}
	m.list = list
	m.wg.Add(1)
	go m.watch()
	return m, nil
}

// Addr is where the other members reach this one.
func (m *Member) Addr() netip.AddrPort { return m.tr.advertise }

// Name is this member's name in the pool.
func (m *Member) Name() string { return m.cfg.Name }

// Join contacts the members at addrs (the gateways of linked clusters) and merges pools
// with each that answers; it returns how many did. It tries each once: retrying, and when,
// is the caller's (a reconciler requeues). When ctx ends first, Join returns ctx's error and
// the attempt finishes in the background, bounded by Timing.TCPTimeout per address.
func (m *Member) Join(ctx context.Context, addrs []netip.AddrPort) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := m.list.Join(s)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Leave tells the pool this member is going, so the others list it as Left at once instead
// of declaring it Dead a second later. It waits for the news to go out until ctx ends (one
// second when ctx has no deadline). Call Shutdown after.
func (m *Member) Leave(ctx context.Context) error {
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	// memberlist does not say whether a member died or left (see Suspect), so a leaving
	// member says it first in its metadata, which the others read in NotifyLeave.
	m.mu.Lock()
	m.leaving = true
	m.mu.Unlock()
	start := time.Now()
	if err := m.list.UpdateNode(timeout / 2); err != nil {
		m.log.Debug("membership: announcing the leave", "err", err)
	}
	return m.list.Leave(max(timeout-time.Since(start), time.Millisecond))
}

// Shutdown stops the member at once, without a word to the pool (Leave first for that):
// the others declare it Dead. It closes every subscriber's channel.
func (m *Member) Shutdown() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	subs := m.subs
	m.subs = map[*subscriber]struct{}{}
	m.mu.Unlock()
	close(m.stop)
	err := m.list.Shutdown()
	m.wg.Wait()
	for s := range subs {
		s.cancel()
	}
	return err
}

// Members lists every member this one knows, itself included, sorted by name: Alive and
// Suspect ones, and Dead or Left ones for deadRetention after they went.
func (m *Member) Members() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.members))
	for _, r := range m.members {
		out = append(out, r.Status)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Status is one member's status, by name.
func (m *Member) Status(name string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.members[name]
	if !ok {
		return Status{}, false
	}
	return r.Status, true
}

// ClusterAlive says whether some member of cluster is Alive or Suspect: whether traffic to
// its gateway should still be sent. It is what the link controller asks before it marks a
// remote cluster's mirrors ready.
func (m *Member) ClusterAlive(cluster string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.members {
		if r.Cluster == cluster && (r.State == Alive || r.State == Suspect) {
			return true
		}
	}
	return false
}

// count is the number of members in s, for the members gauge.
func (m *Member) count(s State) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.members {
		if r.State == s {
			n++
		}
	}
	return n
}

// Subscribe returns a channel that gets an Event each time a member's state changes (Dead
// the moment the pool declares it), and a func that ends the subscription and closes the
// channel. Delivery never blocks the pool: each subscriber has its own goroutine and a set of
// members with news (see Event). The channel is also closed by Shutdown. For a
// controller-runtime reconciler, map each Event to a GenericEvent for the Links to the
// member's cluster and feed a source.Channel.
func (m *Member) Subscribe() (<-chan Event, func()) {
	s := &subscriber{
		m:       m,
		ch:      make(chan Event),
		pending: map[string]struct{}{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	go s.run()
	return s.ch, func() {
		m.mu.Lock()
		delete(m.subs, s)
		m.mu.Unlock()
		s.cancel()
	}
}

type subscriber struct {
	m        *Member
	ch       chan Event
	mu       sync.Mutex
	pending  map[string]struct{}
	wake     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func (s *subscriber) cancel() { s.stopOnce.Do(func() { close(s.done) }) }

func (s *subscriber) notify(name string) {
	s.mu.Lock()
	s.pending[name] = struct{}{}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) run() {
	defer close(s.ch)
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.pending))
		for n := range s.pending {
			names = append(names, n)
		}
		clear(s.pending)
		s.mu.Unlock()
		slices.Sort(names)
		for _, n := range names {
			st, ok := s.m.Status(n)
			if !ok {
				continue // pruned since: nothing left to say
			}
			select {
			case s.ch <- Event{st}:
			case <-s.done:
				return
			}
		}
	}
}

// set records a member's state, and tells subscribers when it changed. It runs inside
// memberlist's callbacks, under memberlist's lock: it must not call memberlist.
func (m *Member) set(n *memberlist.Node, state State) {
	now := time.Now()
	cluster, leaving := decodeMeta(n.Meta)
	if state == Dead && leaving {
		state = Left
	}
	addr, _ := netip.AddrFromSlice(n.Addr)
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.members[n.Name]
	if r == nil {
		r = &record{self: n.Name == m.cfg.Name}
		m.members[n.Name] = r
	}
	r.Name, r.Cluster, r.Addr = n.Name, cluster, netip.AddrPortFrom(addr.Unmap(), n.Port)
	if state == Alive && r.State == Suspect {
		return // NotifyUpdate of a member we suspect: only an answered probe clears it
	}
	if r.State == state && !r.Since.IsZero() {
		return
	}
	m.transition(r, state, now)
}

// transition changes r's state; m.mu is held.
func (m *Member) transition(r *record, state State, now time.Time) {
	if state == Alive {
		r.lastAck = now
	}
	r.State, r.Since = state, now
	m.log.Info("membership: member state", "name", r.Name, "cluster", r.Cluster, "addr", r.Addr.String(), "state", state.String())
	for s := range m.subs {
		s.notify(r.Name)
	}
}

// ack records an answered direct probe.
func (m *Member) ack(name string, rtt time.Duration) {
	m.metrics.rtt.Observe(rtt.Seconds())
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.members[name]
	if r == nil {
		return
	}
	r.RTT, r.lastAck = rtt, now
	if r.State == Suspect {
		m.transition(r, Alive, now)
	}
}

// watch judges Suspect and prunes the departed, every probe round.
func (m *Member) watch() {
	defer m.wg.Done()
	tick := time.NewTicker(m.timing.ProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-tick.C:
			m.judge(now)
		}
	}
}

func (m *Member) judge(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := 0
	for _, r := range m.members {
		if r.State == Alive || r.State == Suspect {
			live++
		}
	}
	// memberlist probes its peers in turn, one a round, so each is probed every live-1
	// rounds; two turns missed, and a round's grace, is Suspect.
	after := time.Duration(2*max(live-1, 1)+1) * m.timing.ProbeInterval
	for name, r := range m.members {
		switch {
		case r.self:
		case r.State == Alive && now.Sub(r.lastAck) > after:
			m.transition(r, Suspect, now)
		case (r.State == Dead || r.State == Left) && now.Sub(r.Since) > deadRetention:
			delete(m.members, name)
		}
	}
}

// Metadata a member gossips about itself: a flags byte, then its cluster's name.
const metaLeaving = 1

func encodeMeta(cluster string, leaving bool) []byte {
	var flags byte
	if leaving {
		flags |= metaLeaving
	}
	return append([]byte{flags}, cluster...)
}

func decodeMeta(b []byte) (cluster string, leaving bool) {
	if len(b) == 0 {
		return "", false
	}
	return string(b[1:]), b[0]&metaLeaving != 0
}

// delegate is memberlist's view of a Member: kept apart so Member's methods are only its API.
type delegate struct{ m *Member }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	leaving := d.m.leaving
	d.m.mu.Unlock()
	b := encodeMeta(d.m.cfg.Cluster, leaving)
	if len(b) > limit {
		return nil // a cluster name is a DNS label, far under memberlist's 512 bytes
	}
	return b
}

func (*delegate) NotifyMsg([]byte)                           {}
func (*delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (*delegate) LocalState(join bool) []byte                { return nil }
func (*delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.m.set(n, Alive) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.m.set(n, Alive) }

// NotifyLeave is called for a member dead or left alike; set tells them apart by the
// member's last metadata.
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.m.set(n, Dead) }

func (*delegate) AckPayload() []byte { return nil }

func (d *delegate) NotifyPingComplete(n *memberlist.Node, rtt time.Duration, _ []byte) {
	d.m.ack(n.Name, rtt)
}
