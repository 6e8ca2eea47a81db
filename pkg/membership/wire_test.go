package membership

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshfed/meshfed/internal/testenv"
)

// recordingListener keeps the first bytes each accepted connection received.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*recordingConn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, rc)
	l.mu.Unlock()
	return rc, nil
}

// firsts returns the first bytes of every connection accepted so far.
func (l *recordingListener) firsts() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, c := range l.conns {
		c.mu.Lock()
		out = append(out, bytes.Clone(c.first))
		c.mu.Unlock()
	}
	return out
}

type recordingConn struct {
	net.Conn
	mu    sync.Mutex
	first []byte
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if room := 1024 - len(c.first); room > 0 {
		c.first = append(c.first, b[:min(n, room)]...)
	}
	c.mu.Unlock()
	return n, err
}

// Every connection, packet or stream, opens with a TLS ClientHello offering one of our
// protocols, and what it negotiates is TLS 1.3.
func TestWireIsTLS13(t *testing.T) {
	p := newPKI(t, "east", "west")
	rec := &recordingListener{}
	east := start(t, p, "east", loopback(1), []string{"east", "west"}, func(c *Config) {
		c.listen = func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			rec.Listener = ln
			return rec, err
		}
	})
	west := start(t, p, "west", loopback(2), []string{"east", "west"})
	if _, err := west.Join(context.Background(), []netip.AddrPort{east.Addr()}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "west to have sent east packets and a stream", func() error {
		var packet, stream bool
		for _, b := range rec.firsts() {
			packet = packet || bytes.Contains(b, []byte(alpnPacket))
			stream = stream || bytes.Contains(b, []byte(alpnStream))
		}
		if !packet || !stream {
			return fmt.Errorf("packet connection seen: %v, stream: %v", packet, stream)
		}
		return nil
	})
	for i, b := range rec.firsts() {
		// A TLS record of type handshake (22), legacy version 3.x, carrying a ClientHello (1).
		if len(b) < 6 || b[0] != 22 || b[1] != 3 || b[5] != 1 {
			t.Errorf("connection %d opened with % x, not a TLS ClientHello", i, b[:min(len(b), 6)])
		}
	}

	// The pooled packet connection west dialled to east.
	west.tr.mu.Lock()
	pc := west.tr.peers[east.Addr().String()]
	west.tr.mu.Unlock()
	if pc == nil {
		t.Fatal("west has no packet connection to east")
	}
	pc.mu.Lock()
	if pc.conn == nil {
		t.Error("west's packet connection to east is not open")
	} else {
		checkState(t, "packet", pc.conn.ConnectionState(), alpnPacket)
	}
	pc.mu.Unlock()

	// A stream.
	c, err := west.tr.DialAddressTimeout(memberlist.Address{Addr: east.Addr().String(), Name: "east"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkState(t, "stream", c.(*streamConn).ConnectionState(), alpnStream)
}

func checkState(t *testing.T, what string, cs tls.ConnectionState, proto string) {
	t.Helper()
	if cs.Version != tls.VersionTLS13 {
		t.Errorf("%s: TLS version %x, want 1.3", what, cs.Version)
	}
	if cs.NegotiatedProtocol != proto {
		t.Errorf("%s: protocol %q, want %q", what, cs.NegotiatedProtocol, proto)
	}
	if len(cs.PeerCertificates) == 0 {
		t.Errorf("%s: no peer certificate", what)
	}
}
