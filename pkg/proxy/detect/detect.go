package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Protocol is what a client speaks.
type Protocol int

const (
	// Opaque is any TCP the proxy forwards as bytes.
	Opaque Protocol = iota
	// HTTP1 is HTTP/1.0 or HTTP/1.1.
	HTTP1
	// HTTP2 is HTTP/2 with prior knowledge, gRPC included.
	HTTP2
	// TLS is a TLS ClientHello: the client encrypts end to end, or speaks mTLS to a proxy.
	TLS
)

func (p Protocol) String() string {
	switch p {
	case Opaque:
		return "opaque"
	case HTTP1:
		return "HTTP/1"
	case HTTP2:
		return "HTTP/2"
	case TLS:
		return "TLS"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// MaxPeek is the most Detect reads. An HTTP/1 request line longer than this (a URL over 8 KiB)
// is opaque, as many servers refuse it anyway; the HTTP/2 preface (24 bytes) and a TLS record
// header (6 with the handshake type) are far shorter.
const MaxPeek = 8 << 10

// firstRead is the buffer of the first Read: enough for most request lines whole, without
// holding 8 KiB for every connection.
const firstRead = 1 << 10

// Detect reads from conn until it can tell the protocol, MaxPeek bytes have come, timeout has
// passed since the call, or ctx is done, and returns the protocol with a connection that
// replays the bytes read. conn must survive a read deadline (a net.TCPConn does; a tls.Conn
// does not), and Detect clears conn's read deadline before returning.
//
// Silence, a stream that ends, or too many bytes undecided is Opaque with a nil error. The
// error is non-nil only when ctx is done (ctx.Err()) or a read fails otherwise; the returned
// connection is never nil, so the caller can always close it.
func Detect(ctx context.Context, conn net.Conn, timeout time.Duration) (Protocol, *PeekedConn, error) {
	pc := &PeekedConn{Conn: conn}
	if timeout <= 0 {
		return Opaque, pc, fmt.Errorf("detect: timeout %v: want a positive duration, or a client that never speaks first would hold the connection for ever", timeout)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return Opaque, pc, fmt.Errorf("detect: setting the read deadline: %w", err)
	}
	defer conn.SetReadDeadline(time.Time{})
	if ctx.Done() != nil {
		// Cancelling ctx wakes a blocked Read by moving the deadline into the past. The lock
		// keeps that from happening after Detect has cleared the deadline on its way out
		// (deferred calls run last in, first out: this one before the clearing above).
		var mu sync.Mutex
		finished := false
		stop := context.AfterFunc(ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			if !finished {
				conn.SetReadDeadline(time.Unix(1, 0)) // long past: wakes a blocked Read
			}
		})
		defer func() {
			stop()
			mu.Lock()
			finished = true
			mu.Unlock()
		}()
	}

	var cl classifier
	buf := make([]byte, 0, firstRead)
	for empty := 0; ; {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), MaxPeek))
			copy(grown, buf)
			buf = grown
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		pc.buffered = buf
		if n > 0 {
			if p, decided := cl.classify(buf); decided {
				return p, pc, nil
			}
			if len(buf) >= MaxPeek {
				return Opaque, pc, nil
			}
		}
		switch {
		case err == nil && n == 0:
			if empty++; empty > 100 {
				return Opaque, pc, fmt.Errorf("detect: %w", io.ErrNoProgress)
			}
		case err == nil:
		case ctx.Err() != nil:
			return Opaque, pc, ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.EOF):
			return Opaque, pc, nil
		default:
			return Opaque, pc, fmt.Errorf("detect: %w", err)
		}
	}
}

// verdict is what a prefix of the stream says about one protocol.
type verdict int

const (
	no verdict = iota
	maybe
	yes
)

// classifier remembers how far into the stream the request line has been scanned.
type classifier struct{ line requestLine }

// classify says what b, the first bytes of a stream, is, or that it cannot tell yet. Each call
// must pass the bytes of the one before and perhaps more. A decision never changes as more
// bytes come (each matcher says yes or no only on bytes it has), which is what lets Detect
// stop reading as soon as it decides.
func (c *classifier) classify(b []byte) (Protocol, bool) {
	undecided := false
	for _, m := range []struct {
		p Protocol
		v verdict
	}{{TLS, matchTLS(b)}, {HTTP2, matchHTTP2(b)}, {HTTP1, c.line.match(b)}} {
		switch m.v {
		case yes:
			return m.p, true
		case maybe:
			undecided = true
		}
	}
	return Opaque, !undecided
}

// classify is classifier.classify from scratch.
func classify(b []byte) (Protocol, bool) {
	var c classifier
	return c.classify(b)
}

// matchTLS wants a TLS record header of a handshake (0x16), protocol version 3.0 to 3.4 as the
// record layer spells SSL 3.0 to TLS 1.3, a plausible length, and a ClientHello (1) as the
// first handshake message.
func matchTLS(b []byte) verdict {
	const maxRecord = 1 << 14 // a plaintext record's limit (RFC 8446, 5.1)
	switch {
	case len(b) < 1:
		return maybe
	case b[0] != 0x16:
		return no
	case len(b) < 2:
		return maybe
	case b[1] != 0x03:
		return no
	case len(b) < 3:
		return maybe
	case b[2] > 0x04:
		return no
	case len(b) < 5:
		return maybe
	}
	if l := int(b[3])<<8 | int(b[4]); l == 0 || l > maxRecord {
		return no
	}
	switch {
	case len(b) < 6:
		return maybe
	case b[5] != 0x01:
		return no
	}
	return yes
}

// http2Preface starts every HTTP/2 connection with prior knowledge (RFC 9113, 3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func matchHTTP2(b []byte) verdict {
	return matchLiteral(b, http2Preface)
}

// matchLiteral says whether b starts with lit, or could once more bytes come.
func matchLiteral(b []byte, lit string) verdict {
	n := min(len(b), len(lit))
	if string(b[:n]) != lit[:n] {
		return no
	}
	if n < len(lit) {
		return maybe
	}
	return yes
}

// maxMethod bounds a method's length, well above the longest registered one
// (UPDATEREDIRECTREF, 17), so that a client protocol opening with a long run of letters is
// found opaque at once, not after the timeout.
const maxMethod = 32

// requestLine matches an HTTP/1 request line, strictly: method SP request-target SP HTTP/1.0
// or HTTP/1.1 CRLF (RFC 9112, 3), the method a token, the target visible ASCII in one of the
// forms the RFC names (origin "/...", asterisk "*", absolute "scheme:...", authority
// "host:port"), and no bare LF.
//
// It is incremental: each call scans only the bytes it has not seen, so a client that sends
// its request line a byte at a time costs linear time, not quadratic.
type requestLine struct {
	phase   int // inMethod, inTarget or inVersion
	i       int // b[:i] is scanned and fits
	target  int // where the target starts
	version int // where the version starts
	decided bool
	done    verdict // once decided
}

const (
	inMethod = iota
	inTarget
	inVersion
)

func (s *requestLine) match(b []byte) verdict {
	if s.decided {
		return s.done
	}
	for ; s.i < len(b); s.i++ {
		if v := s.step(b, b[s.i]); v != maybe {
			s.decided, s.done = true, v
			return v
		}
	}
	return maybe
}

// step takes the byte at s.i: no if it cannot be there, yes if it ends the line.
func (s *requestLine) step(b []byte, c byte) verdict {
	switch s.phase {
	case inMethod:
		switch {
		case c == ' ' && s.i > 0:
			s.phase, s.target = inTarget, s.i+1
		case !isTokenChar(c) || s.i >= maxMethod:
			return no
		}
	case inTarget:
		switch {
		case c == ' ' && s.i > s.target:
			s.phase, s.version = inVersion, s.i+1
		case !isTargetChar(c):
			return no
		case s.i == s.target && !validTargetStart(c):
			return no
		case s.i > s.target && b[s.target] == '*':
			return no // the asterisk form is "*" alone
		}
	case inVersion:
		const want = "HTTP/1.x\r\n"
		switch j := s.i - s.version; {
		case j == len("HTTP/1."):
			if c != '0' && c != '1' {
				return no
			}
		case c != want[j]:
			return no
		case j == len(want)-1:
			return yes
		}
	}
	return maybe
}

// validTargetStart says whether c can start a request target: "/" (origin form), "*"
// (asterisk form), or a scheme or host (absolute and authority forms; "[" for IPv6).
func validTargetStart(c byte) bool {
	switch {
	case c == '/', c == '*', c == '[':
		return true
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return false
}

// isTokenChar is tchar (RFC 9110, 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isTargetChar is visible ASCII: a request target has no spaces, controls or raw non-ASCII.
func isTargetChar(c byte) bool { return 0x21 <= c && c <= 0x7e }
