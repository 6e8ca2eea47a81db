package membership

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshfed/meshfed/pkg/trust"
)

// Transport timings that are not memberlist's.
const (
	// handshakeTimeout bounds an inbound TLS handshake, so a peer that connects and says
	// nothing holds a goroutine this long at most.
	handshakeTimeout = 5 * time.Second
	// packetWriteTimeout bounds one framed write; a peer that stopped reading loses its
	// connection, as a UDP packet to it would be lost.
	packetWriteTimeout = time.Second
	// packetIdleTimeout closes packet connections, both ends, unused this long. A pool
	// member is probed several times a second, so only connections to departed members go.
	packetIdleTimeout = time.Minute
)

// transport is a memberlist.NodeAwareTransport over TCP and mutual TLS 1.3, on one listener.
//
// Packets (memberlist's UDP messages: probes, acks, gossip) are framed (frame.go) on a
// long-lived connection per peer address, dialled on first use and dialled again after an
// error: one handshake per peer, not per packet. A packet connection carries packets one way
// only: the peer answers on its own connection to our advertised address, which memberlist
// puts in every ping. Streams (push/pull, join, the TCP fallback probe) are one TLS
// connection each, as memberlist closes them after one exchange.
//
// Every handshake, both directions, checks the peer with peerCheck; refusals are logged and
// counted. Addresses must be IP:port: the transport never resolves a name.
type transport struct {
	ln        net.Listener
	advertise netip.AddrPort
	local     net.Addr // the source address of our dials, nil for any
	server    *tls.Config
	client    map[string]*tls.Config // by ALPN protocol
	dialWait  time.Duration          // bound on a packet connection's dial and handshake
	log       *slog.Logger
	metrics   *metrics
	refusals  *refusalLog

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	peers  map[string]*peer      // outbound packet connections, by address
	conns  map[net.Conn]struct{} // every connection not yet closed, for Shutdown
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// errShutdown is what a shut-down transport says to every send.
var errShutdown = errors.New("membership transport is shut down")

type transportConfig struct {
	bind, advertise netip.AddrPort
	creds           Credentials
	allowed         func(trust.ID) error
	dialWait        time.Duration
	log             *slog.Logger
	metrics         *metrics
	// listen is net.Listen unless a test wraps the listener.
	listen func(network, addr string) (net.Listener, error)
}

func newTransport(c transportConfig) (*transport, error) {
	listen := c.listen
	if listen == nil {
		listen = net.Listen
	}
	ln, err := listen("tcp", c.bind.String())
	if err != nil {
		return nil, fmt.Errorf("membership: listen on %s: %w", c.bind, err)
	}
	adv := c.advertise
	if !adv.IsValid() {
		bound, _ := netip.ParseAddrPort(ln.Addr().String())
		adv = bound
	} else if adv.Port() == 0 {
		bound, _ := netip.ParseAddrPort(ln.Addr().String())
		adv = netip.AddrPortFrom(adv.Addr(), bound.Port())
	}
	t := &transport{
		ln:        ln,
		advertise: adv,
		server:    serverConfig(c.creds, c.allowed),
		client: map[string]*tls.Config{
			alpnPacket: clientConfig(c.creds, c.allowed, alpnPacket),
			alpnStream: clientConfig(c.creds, c.allowed, alpnStream),
		},
		dialWait: c.dialWait,
		log:      c.log,
		metrics:  c.metrics,
		refusals: &refusalLog{last: map[string]time.Time{}},
		packetCh: make(chan *memberlist.Packet, 64),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
		peers:    map[string]*peer{},
		conns:    map[net.Conn]struct{}{},
	}
	if ip := c.bind.Addr(); ip.IsValid() && !ip.IsUnspecified() {
		t.local = &net.TCPAddr{IP: ip.AsSlice()}
	}
	t.wg.Add(2)
	go t.accept()
	go t.reapIdle()
	return t, nil
}

// FinalAdvertiseAddr is the address given in the Config, or the bound one: memberlist's own
// guess (a private interface address) is wrong for a gateway reached through a load balancer.
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.advertise.Addr().AsSlice(), int(t.advertise.Port()), nil
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *transport) StreamCh() <-chan net.Conn           { return t.streamCh }

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends one packet on the pooled connection to addr, dialling it if there
// is none. A dial's error is returned as the dialer made it (a *net.OpError for TCP): from
// that memberlist knows the peer is down and goes to indirect probes at once instead of
// waiting out the probe timeout. A write that fails on a pooled connection (the peer went
// away since) is tried once more on a new one.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	frame, err := appendFrame(make([]byte, 0, frameHeaderSize+len(b)), b)
	if err != nil {
		return time.Time{}, err
	}
	p, err := t.peer(a.Addr)
	if err != nil {
		return time.Time{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := false
		if p.conn == nil {
			c, err := t.dial(a, alpnPacket, t.dialWait)
			if err != nil {
				return time.Time{}, err
			}
			if !t.spawn(func() { t.drain(p, c) }) {
				c.Close()
				return time.Time{}, errShutdown
			}
			p.conn, fresh = c, true
		}
		c := p.conn
		c.SetWriteDeadline(time.Now().Add(packetWriteTimeout))
		_, err := c.Write(frame)
		if err == nil {
			p.lastUse.Store(time.Now().UnixNano())
			t.metrics.packetSent.Add(float64(len(frame)))
			return time.Now(), nil
		}
		p.conn = nil
		c.Close()
		if fresh || attempt > 0 {
			return time.Time{}, err
		}
	}
}

// DialTimeout opens a stream.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream: its own TLS connection, handshake included in timeout.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.dial(a, alpnStream, timeout)
	if err != nil {
		return nil, err
	}
	return t.countStream(c), nil
}

// Shutdown closes the listener and every connection, both directions, and waits for the
// transport's goroutines. Sends fail from then on. memberlist calls it from its own
// Shutdown; a test calls it alone to make a member vanish as a killed process does.
func (t *transport) Shutdown() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	err := t.ln.Close()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

// peer is the outbound packet connection to one address. mu serialises its dial and its
// writes: frames must not interleave.
type peer struct {
	mu      sync.Mutex
	conn    *tls.Conn // nil until dialled, and after an error
	lastUse atomic.Int64
}

func (t *transport) peer(addr string) (*peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errShutdown
	}
	p := t.peers[addr]
	if p == nil {
		p = &peer{}
		p.lastUse.Store(time.Now().UnixNano())
		t.peers[addr] = p
	}
	return p, nil
}

// drain reads the outbound packet connection c: nothing comes on it but TLS's own messages,
// but a read is how a closed or reset connection is noticed. Then c leaves the pool, so the
// next packet dials afresh, and fails at once if the peer is gone.
func (t *transport) drain(p *peer, c *tls.Conn) {
	_, err := io.Copy(io.Discard, c)
	p.mu.Lock()
	if p.conn == c {
		p.conn = nil
	}
	p.mu.Unlock()
	c.Close()
	t.untrack(c.NetConn())
	if err != nil && !isClosed(err) {
		t.log.Debug("membership: packet connection closed", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// reapIdle closes packet connections unused for packetIdleTimeout and forgets their peers.
func (t *transport) reapIdle() {
	defer t.wg.Done()
	tick := time.NewTicker(packetIdleTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		cutoff := time.Now().Add(-packetIdleTimeout).UnixNano()
		t.mu.Lock()
		for addr, p := range t.peers {
			if p.lastUse.Load() < cutoff && p.mu.TryLock() {
				if p.conn != nil {
					p.conn.Close()
					p.conn = nil
				}
				delete(t.peers, addr)
				p.mu.Unlock()
			}
		}
		t.mu.Unlock()
	}
}

// dial connects to a's IP:port and completes the TLS handshake within timeout. A failed TCP
// dial's error is returned unwrapped (see WriteToAddress); a refused handshake is logged and
// counted.
func (t *transport) dial(a memberlist.Address, proto string, timeout time.Duration) (*tls.Conn, error) {
	ap, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		return nil, fmt.Errorf("membership: %q is not IP:port (names are not resolved): %w", a.Addr, err)
	}
	select {
	case <-t.done:
		return nil, errShutdown
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := net.Dialer{LocalAddr: t.local}
	raw, err := d.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, err
	}
	if !t.track(raw) {
		raw.Close()
		return nil, errShutdown
	}
	c := tls.Client(raw, t.client[proto])
	if err := c.HandshakeContext(ctx); err != nil {
		t.refused("outbound", raw.RemoteAddr(), a.Name, err)
		c.Close()
		t.untrack(raw)
		return nil, fmt.Errorf("membership: handshake with %s: %w", a, err)
	}
	return c, nil
}

// accept serves the listener until Shutdown.
func (t *transport) accept() {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		raw, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			// Out of file descriptors and the like: wait and try again, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("membership: accept", "err", err, "retry_in", backoff)
			select {
			case <-t.done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !t.track(raw) || !t.spawn(func() { t.serve(raw) }) {
			raw.Close()
			return
		}
	}
}

// serve makes the handshake on an accepted connection and hands it on by its protocol.
func (t *transport) serve(raw net.Conn) {
	c := tls.Server(raw, t.server)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := c.HandshakeContext(ctx)
	cancel()
	if err != nil {
		t.refused("inbound", raw.RemoteAddr(), "", err)
		c.Close()
		t.untrack(raw)
		return
	}
	switch proto := c.ConnectionState().NegotiatedProtocol; proto {
	case alpnPacket:
		t.readPackets(c)
	case alpnStream:
		select {
		case t.streamCh <- t.countStream(c):
		case <-t.done:
			c.Close()
		}
	default:
		t.refused("inbound", raw.RemoteAddr(), "", &refusal{reason: reasonProtocol, err: fmt.Errorf("no protocol agreed (client offered none of %s, %s)", alpnPacket, alpnStream)})
		c.Close()
		t.untrack(raw)
	}
}

// readPackets hands every frame of an inbound packet connection to memberlist, stamped with
// the time it was read, until the connection ends or breaks the framing.
func (t *transport) readPackets(c *tls.Conn) {
	defer t.untrack(c.NetConn())
	defer c.Close()
	for {
		c.SetReadDeadline(time.Now().Add(packetIdleTimeout))
		buf, err := readFrame(c)
		if err != nil {
			if errors.Is(err, errFrameTooLarge) || errors.Is(err, errEmptyFrame) {
				t.refused("inbound", c.RemoteAddr(), "", &refusal{reason: reasonProtocol, err: err})
			} else if err != io.EOF && !isClosed(err) {
				t.log.Debug("membership: inbound packet connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		t.metrics.packetReceived.Add(float64(frameHeaderSize + len(buf)))
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf, From: c.RemoteAddr(), Timestamp: time.Now()}:
		case <-t.done:
			return
		}
	}
}

// spawn runs f on a goroutine Shutdown waits for, unless the transport is shut down.
func (t *transport) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// track adds c to the connections Shutdown closes, unless the transport is shut down.
func (t *transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// refused logs and counts a failed handshake or a broken protocol. A peer that keeps being
// refused is logged once a minute per address and reason; it is counted every time.
func (t *transport) refused(direction string, remote net.Addr, name string, err error) {
	reason := reasonHandshake
	var r *refusal
	var op *net.OpError
	switch {
	case errors.As(err, &r):
		reason = r.reason
	case errors.As(err, &op) && op.Op == "remote error": // how crypto/tls reports the peer's alert
		reason = reasonPeerRefused
	}
	if reason == reasonHandshake && isClosed(err) {
		// Our own Shutdown cut the handshake short: not the peer's doing.
		select {
		case <-t.done:
			return
		default:
		}
	}
	t.metrics.refused.WithLabelValues(direction, reason).Inc()
	host, _, _ := net.SplitHostPort(remote.String())
	if !t.refusals.due(direction + "/" + host + "/" + reason) {
		return
	}
	attrs := []any{"direction", direction, "remote", remote.String(), "reason", reason, "err", err}
	if name != "" {
		attrs = append(attrs, "member", name)
	}
	if r != nil && r.peer != nil {
		attrs = append(attrs, "peer_identity", r.peer.String())
	}
	t.log.Warn("membership: refused connection", attrs...)
}

// refusalLog says when a refusal is due a log line: the first for a key, then once a minute.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *refusalLog) due(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.last[key]) < time.Minute {
		return false
	}
	if len(l.last) > 1024 { // a scan of many addresses must not grow this without end
		clear(l.last)
	}
	l.last[key] = now
	return true
}

// countStream wraps a stream so its bytes are counted and Shutdown can close it.
func (t *transport) countStream(c *tls.Conn) net.Conn {
	t.track(c.NetConn())
	return &streamConn{Conn: c, t: t}
}

// streamConn is a stream handed to memberlist: a TLS connection whose bytes are counted.
type streamConn struct {
	*tls.Conn
	t    *transport
	once sync.Once
}

func (s *streamConn) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	s.t.metrics.streamReceived.Add(float64(n))
	return n, err
}

func (s *streamConn) Write(b []byte) (int, error) {
	n, err := s.Conn.Write(b)
	s.t.metrics.streamSent.Add(float64(n))
	return n, err
}

func (s *streamConn) Close() error {
	s.once.Do(func() { s.t.untrack(s.Conn.NetConn()) })
	return s.Conn.Close()
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}
