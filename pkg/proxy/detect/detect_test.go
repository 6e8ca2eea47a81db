package detect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// clientHello is the start of a real TLS 1.3 ClientHello: record header and handshake type.
var clientHello = []byte{0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03}

func TestDetect(t *testing.T) {
	long := "GET /" + strings.Repeat("a", MaxPeek) + " HTTP/1.1\r\n"
	for _, tc := range []struct {
		name string
		sent string
		eof  bool // the client closes after sending; else it falls silent
		want Protocol
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: web\r\n\r\n", false, HTTP1},
		{"request line only", "GET / HTTP/1.1\r\n", false, HTTP1},
		{"HTTP/1.0 POST with a query", "POST /v1/users?id=7&x=%20 HTTP/1.0\r\n", false, HTTP1},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\n", false, HTTP1},
		{"CONNECT", "CONNECT web.default.svc:443 HTTP/1.1\r\n", false, HTTP1},
		{"CONNECT IPv6", "CONNECT [fd00::1]:443 HTTP/1.1\r\n", false, HTTP1},
		{"absolute form", "GET http://web/ HTTP/1.1\r\n", false, HTTP1},
		{"extension method", "PROPFIND /dav HTTP/1.1\r\n", false, HTTP1},
		{"HTTP/2 preface", http2Preface, false, HTTP2},
		{"HTTP/2 preface and SETTINGS", http2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00", true, HTTP2},
		{"TLS ClientHello", string(clientHello), false, TLS},

		{"server speaks first", "", false, Opaque},
		{"closed at once", "", true, Opaque},
		{"request line cut short", "GET / HTTP/1.1", false, Opaque},
		{"request line then close", "GET / HTTP/1.1\r", true, Opaque},
		{"bare LF", "GET / HTTP/1.1\nHost: web\n\n", false, Opaque},
		{"two spaces", "GET  / HTTP/1.1\r\n", false, Opaque},
		{"space in the target", "GET /a b HTTP/1.1\r\n", false, Opaque},
		{"NUL in the target", "GET /\x00 HTTP/1.1\r\n", false, Opaque},
		{"non-ASCII in the target", "GET /é HTTP/1.1\r\n", false, Opaque},
		{"target not in any form", "GET ?x HTTP/1.1\r\n", false, Opaque},
		{"asterisk with more", "OPTIONS *x HTTP/1.1\r\n", false, Opaque},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\n", false, Opaque},
		{"HTTP/1.2", "GET / HTTP/1.2\r\n", false, Opaque},
		{"lowercase version", "GET / http/1.1\r\n", false, Opaque},
		{"no version (HTTP/0.9)", "GET /\r\n", false, Opaque},
		{"method too long", strings.Repeat("A", maxMethod+1) + " / HTTP/1.1\r\n", false, Opaque},
		{"target longer than the cap", long, false, Opaque},
		{"preface gone wrong", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", false, Opaque},
		{"SSH", "SSH-2.0-OpenSSH_9.2\r\n", false, Opaque},
		{"Redis", "*1\r\n$4\r\nPING\r\n", false, Opaque},
		{"MySQL-style binary", "\x4a\x00\x00\x00\x0a8.0.36\x00", false, Opaque},
		{"TLS ServerHello", "\x16\x03\x03\x00\x5a\x02", false, Opaque},
		{"TLS record too long", "\x16\x03\x01\x40\x01\x01", false, Opaque},
		{"TLS version 3.9", "\x16\x03\x09\x00\x10\x01", false, Opaque},
		{"TLS alert", "\x15\x03\x03\x00\x02\x02\x28", false, Opaque},
	} {
		// Each stream is sent whole, and a byte at a time: the answer must not depend on how
		// the bytes arrive.
		for _, chunk := range []int{0, 1} {
			name := tc.name
			if chunk == 1 {
				name += "/byte by byte"
			}
			t.Run(name, func(t *testing.T) {
				c := &memConn{data: []byte(tc.sent), chunk: chunk, eof: tc.eof}
				got, pc, err := Detect(context.Background(), c, time.Second)
				if err != nil || got != tc.want {
					t.Fatalf("Detect(%q) = %v, %v; want %v", tc.sent, got, err, tc.want)
				}
				if c.total > MaxPeek {
					t.Fatalf("Detect read %d bytes, more than MaxPeek (%d)", c.total, MaxPeek)
				}
				c.eof = true
				all, err := io.ReadAll(pc)
				if err != nil || string(all) != tc.sent {
					t.Fatalf("the connection replayed %q, %v; want %q", all, err, tc.sent)
				}
			})
		}
	}
}

// Detect stops reading once it knows: given a request line and a body byte by byte, it reads
// the request line and no more.
func TestDetectReadsOnlyWhatItNeeds(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		need       int
	}{
		{"HTTP/1", "GET / HTTP/1.1\r\nHost: web\r\n\r\n", len("GET / HTTP/1.1\r\n")},
		{"HTTP/2", http2Preface + "\x00\x00\x00\x04", len(http2Preface)},
		{"TLS", string(clientHello), 6},
		{"opaque", "\x00\x01\x02\x03", 1},
		{"opaque after a token", "HELO\r\n", len("HELO\r")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &memConn{data: []byte(tc.sent), chunk: 1}
			if _, _, err := Detect(context.Background(), c, time.Second); err != nil {
				t.Fatal(err)
			}
			if c.total != tc.need {
				t.Fatalf("read %d bytes of %q, want %d", c.total, tc.sent, tc.need)
			}
		})
	}
}

// Over real connections: a silent client is opaque after the timeout, and the connection then
// works both ways as if nothing had read it, for a server-speaks-first protocol.
func TestDetectSilentClient(t *testing.T) {
	client, server := tcpPair(t)
	start := time.Now()
	got, pc, err := Detect(context.Background(), server, 50*time.Millisecond)
	if err != nil || got != Opaque {
		t.Fatalf("Detect = %v, %v; want opaque", got, err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("Detect returned after %v, want about the 50ms timeout", waited)
	}
	// The server greets, as an SMTP server does; the client answers.
	if _, err := io.WriteString(pc, "220 mail ESMTP\r\n"); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	greeting := make([]byte, len("220 mail ESMTP\r\n"))
	if _, err := io.ReadFull(client, greeting); err != nil {
		t.Fatal(err)
	}
	io.WriteString(client, "EHLO client\r\n")
	// The read deadline is cleared: a later read waits for data, however long it takes.
	time.Sleep(60 * time.Millisecond)
	line := make([]byte, len("EHLO client\r\n"))
	if _, err := io.ReadFull(pc, line); err != nil || string(line) != "EHLO client\r\n" {
		t.Fatalf("read %q, %v after detection", line, err)
	}
}

// A client that sends part of a request line and waits is opaque at the timeout, and keeps
// what it sent.
func TestDetectPartialThenSilent(t *testing.T) {
	client, server := tcpPair(t)
	io.WriteString(client, "GET /slow HT")
	got, pc, err := Detect(context.Background(), server, 100*time.Millisecond)
	if err != nil || got != Opaque {
		t.Fatalf("Detect = %v, %v; want opaque", got, err)
	}
	if string(pc.Buffered()) != "GET /slow HT" {
		t.Fatalf("Buffered() = %q", pc.Buffered())
	}
}

// A request line that trickles in, in pieces, within the timeout is still HTTP/1.
func TestDetectSlowRequestLine(t *testing.T) {
	client, server := tcpPair(t)
	go func() {
		for _, part := range []string{"GE", "T /", " HTTP", "/1.1\r", "\n"} {
			io.WriteString(client, part)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	got, _, err := Detect(context.Background(), server, 5*time.Second)
	if err != nil || got != HTTP1 {
		t.Fatalf("Detect = %v, %v; want HTTP/1", got, err)
	}
}

func TestDetectContext(t *testing.T) {
	_, server := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	got, pc, err := Detect(ctx, server, time.Minute)
	if !errors.Is(err, context.Canceled) || got != Opaque || pc == nil {
		t.Fatalf("Detect with a cancelled context = %v, %v, %v; want opaque, context.Canceled and a conn", got, pc, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Detect returned %v after the context was cancelled", waited)
	}
	if _, _, err := Detect(context.Background(), server, 0); err == nil || !strings.Contains(err.Error(), "want a positive duration") {
		t.Fatalf("Detect with no timeout: %v", err)
	}
}

func TestPeekedConnWriteTo(t *testing.T) {
	c := &memConn{data: []byte("GET / HTTP/1.1\r\nHost: web\r\n\r\nbody"), chunk: 20, eof: true}
	got, pc, err := Detect(context.Background(), c, time.Second)
	if err != nil || got != HTTP1 {
		t.Fatalf("Detect = %v, %v", got, err)
	}
	var out bytes.Buffer
	n, err := pc.WriteTo(&out)
	if err != nil || out.String() != "GET / HTTP/1.1\r\nHost: web\r\n\r\nbody" || n != int64(out.Len()) {
		t.Fatalf("WriteTo = %d, %v: %q", n, err, out.String())
	}
}

// tcpPair is a connected pair on loopback, closed when t ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	l.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func BenchmarkDetectHTTP1(b *testing.B) {
	req := []byte("GET /api/v1/namespaces/default/pods?limit=500 HTTP/1.1\r\nHost: kubernetes.default.svc\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	c := &memConn{}
	for b.Loop() {
		c.data = req
		p, _, err := Detect(context.Background(), c, time.Second)
		if err != nil || p != HTTP1 {
			b.Fatal(p, err)
		}
	}
}

// The classification alone, without the connection and buffer around it.
func BenchmarkClassifyHTTP1RequestLine(b *testing.B) {
	line := []byte("GET /api/v1/namespaces/default/pods?limit=500 HTTP/1.1\r\n")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if p, ok := classify(line); !ok || p != HTTP1 {
			b.Fatal(p, ok)
		}
	}
}
