package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/meshfed/meshfed/pkg/trust"
)

// redirected is a connection the proxy accepted, with what it learnt of it: where it was
// going, and who the peer proved to be.
type redirected struct {
	net.Conn
	dst netip.AddrPort
	// from is the client's address, for inbound policy.
	from netip.Addr
	peer *trust.ID
	done chan struct{}
	once sync.Once
}

func (r *redirected) Close() error {
	err := r.Conn.Close()
	r.once.Do(func() { close(r.done) })
	return err
}

type connKey struct{}

// connOf returns the redirected connection a request came on.
func connOf(ctx context.Context) *redirected {
	c, _ := ctx.Value(connKey{}).(*redirected)
	return c
}

// chanListener hands an http.Server the connections the proxy has already accepted and
// classified, one at a time, so that one server (and its pools) serves them all.
type chanListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// hand gives c to the server and returns when the server is done with it.
func (l *chanListener) hand(ctx context.Context, c *redirected) {
	select {
	case l.ch <- c:
	case <-l.closed:
		return
	case <-ctx.Done():
		return
	}
	// The server closes c when it is done with it, also when it shuts down: a request under
	// way finishes first.
	<-c.done
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// pipe copies both ways until both sides are done, passing on half-closes, and returns the
// bytes each way.
func pipe(a, b net.Conn) (aToB, bToA int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		aToB = copyHalf(b, a)
	}()
	bToA = copyHalf(a, b)
	wg.Wait()
	return aToB, bToA
}

func copyHalf(dst, src net.Conn) int64 {
	n, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		// One side broke: take the other down with it rather than hang half open.
		dst.Close()
		src.Close()
		return n
	}
	closeWrite(dst)
	return n
}

type closeWriter interface{ CloseWrite() error }

func closeWrite(c net.Conn) {
	switch c := c.(type) {
	case *tls.Conn:
		c.CloseWrite()
	case *redirected:
		closeWrite(c.Conn)
	case closeWriter:
		c.CloseWrite()
	default:
		c.Close()
	}
}

// grpcStatusHeaders are what a gRPC server puts in a trailers-only response's headers.
var grpcStatusHeaders = []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"}

// trailersOnly turns a gRPC trailers-only response (the status in the headers, no body) into
// headers and trailers. Carried as it is, its headers may be flushed before the end of the
// stream is known, and the client then sees a stream ended with no status.
func trailersOnly(res *http.Response) error {
	if res.Header.Get("Grpc-Status") == "" {
		return nil
	}
	if res.Trailer == nil {
		res.Trailer = http.Header{}
	}
	for _, k := range grpcStatusHeaders {
		if v, ok := res.Header[k]; ok {
			res.Trailer[k] = v
			delete(res.Header, k)
		}
	}
	return nil
}
