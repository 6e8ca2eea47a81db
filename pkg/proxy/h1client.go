package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

const (
	// h1MaxIdlePerApp bounds the connections kept to one port of the app.
	h1MaxIdlePerApp = 100
	// h1IdleTimeout is how long a kept connection may wait for its next request: less than
	// the shortest keep-alive of common servers (Node's 5 s), as nothing watches a kept
	// connection for the app closing it. (net/http's Transport has a goroutine reading each.)
	h1IdleTimeout = 4 * time.Second
	// h1BufSize is each kept connection's read buffer and write buffer: a request's or an
	// answer's head, and a small body, in one syscall.
	h1BufSize = 4 << 10
)

// h1Client sends requests that have no body and may be sent twice (GET, HEAD, OPTIONS,
// TRACE, or with an idempotency key) to the app over HTTP/1.1 on connections it keeps, and
// writes each request and reads its answer on the caller's goroutine.
//
// net/http's Transport gives each connection a goroutine that writes and one that reads, and
// hands every request to the one and its answer back from the other. On the proxy's
// loopback hop to its own app those hand-offs cost more than the hop itself. The other
// requests still go through the Transport. It writes a body while it reads the answer (an
// app may answer before it has read all of a body), and its reader sees a kept connection
// closed by the app before a request is sent on it, where this client finds out only by
// sending, and then sends again.
type h1Client struct {
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback http.RoundTripper

	mu sync.Mutex
	// idle are the kept connections by the app's address, the most recently used last.
	idle   map[string][]*h1Conn
	closed bool
}

type h1Conn struct {
	net.Conn
	addr      string
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newH1Client(dial func(ctx context.Context, network, addr string) (net.Conn, error), fallback http.RoundTripper) *h1Client {
	return &h1Client{dial: dial, fallback: fallback, idle: map[string][]*h1Conn{}}
}

func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if !bodiless(req) || !replayable(req) || req.Header.Get("Upgrade") != "" || req.Header.Get("Expect") != "" {
		return c.fallback.RoundTrip(req)
	}
	for retried := false; ; retried = true {
		pc, reused, err := c.get(req.Context(), req.URL.Host, !retried)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(pc, req)
		if err == nil {
			return resp, nil
		}
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		// A kept connection that the app closed while it sat idle gives no answer at all: the
		// request goes again on a new connection. The app closed the connection kept the
		// shortest time, so it will have closed those kept longer too.
		var none errNoAnswer
		if !reused || retried || !errors.As(err, &none) {
			return nil, err
		}
		c.dropIdle(req.URL.Host)
	}
}

// errNoAnswer is a connection that ended, or failed, before any byte of an answer came.
type errNoAnswer struct{ err error }

func (e errNoAnswer) Error() string { return fmt.Sprintf("the app sent no answer: %v", e.err) }
func (e errNoAnswer) Unwrap() error { return e.err }

func bodiless(req *http.Request) bool {
	// (A client request's ContentLength of 0 with a Body is a body of unknown length.)
	return req.Body == nil || req.Body == http.NoBody
}

// replayable is a request that may be sent twice: net/http's own rule.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// send writes req on pc and reads its answer. pc is closed on failure, and is kept again
// once the answer's body is read to its end.
func (c *h1Client) send(pc *h1Conn, req *http.Request) (_ *http.Response, err error) {
	// A request given up (the peer reset its stream) ends the waits on pc, which can then
	// never be kept.
	stop := context.AfterFunc(req.Context(), func() { pc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if err != nil {
			stop()
			pc.Close()
		}
	}()
	if err := req.Write(pc.bw); err != nil {
		return nil, errNoAnswer{err}
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, errNoAnswer{err}
	}
	for {
		if _, err := pc.br.Peek(1); err != nil {
			return nil, errNoAnswer{err}
		}
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("the app switched protocols unasked")
		case resp.StatusCode < 200:
			// Informational (103 Early Hints, say): passed on as the Transport passes them to
			// ReverseProxy, and the answer follows.
			if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
					return nil, err
				}
			}
			continue
		}
		keep := !resp.Close && !req.Close
		if resp.Body == http.NoBody {
			c.done(pc, stop, keep)
			return resp, nil
		}
		resp.Body = &h1Body{ReadCloser: resp.Body, c: c, pc: pc, stop: stop, keep: keep}
		return resp, nil
	}
}

// done keeps pc for the next request when its answer is read to the end, nothing gave it
// up, and neither side asked to close it.
func (c *h1Client) done(pc *h1Conn, stop func() bool, keep bool) {
	if !stop() || !keep {
		pc.Close()
		return
	}
	pc.idleSince = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle[pc.addr]) >= h1MaxIdlePerApp {
		pc.Close()
		return
	}
	c.idle[pc.addr] = append(c.idle[pc.addr], pc)
}

// get takes the most recently kept connection to addr that is not too old, if kept, else
// dials one.
func (c *h1Client) get(ctx context.Context, addr string, kept bool) (pc *h1Conn, reused bool, err error) {
	c.mu.Lock()
	for idle := c.idle[addr]; kept && len(idle) > 0; idle = c.idle[addr] {
		pc, c.idle[addr] = idle[len(idle)-1], idle[:len(idle)-1]
		if time.Since(pc.idleSince) < h1IdleTimeout {
			c.mu.Unlock()
			return pc, true, nil
		}
		pc.Close()
	}
	c.mu.Unlock()
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &h1Conn{Conn: conn, addr: addr, br: bufio.NewReaderSize(conn, h1BufSize), bw: bufio.NewWriterSize(conn, h1BufSize)}, false, nil
}

// dropIdle closes the connections kept to addr.
func (c *h1Client) dropIdle(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pc := range c.idle[addr] {
		pc.Close()
	}
	delete(c.idle, addr)
}

// closeIdle closes the kept connections, and those kept from now on.
func (c *h1Client) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, idle := range c.idle {
		for _, pc := range idle {
			pc.Close()
		}
		delete(c.idle, addr)
	}
	c.closed = true
}

// h1Body is an answer's body: read to its end, its connection is kept; closed before, the
// connection goes with it, as what is left unread would be taken for the next answer.
type h1Body struct {
	io.ReadCloser
	c    *h1Client
	pc   *h1Conn
	stop func() bool
	keep bool
	once sync.Once
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(func() { b.c.done(b.pc, b.stop, b.keep && err == io.EOF) })
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.once.Do(func() {
		b.stop()
		b.pc.Close()
	})
	return nil
}
