package proxy

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

const (
	// maxBatch bounds what a batchedConn holds unwritten: a writer past it waits, so a peer
	// that reads slowly slows its writers as a plain connection would.
	maxBatch = 64 << 10
	// closeFlushTimeout bounds how long Close waits for what was written before it (HTTP/2's
	// GOAWAY) to reach a peer that does not read.
	closeFlushTimeout = time.Second
)

// batchedConn gathers the small writes golang.org/x/net/http2 makes, one per frame and each
// flushed on its own, into one write of the connection under it. A request's HEADERS and
// DATA, or several streams' frames, then cost one TLS record and one syscall instead of one
// each, which is most of what a proxy spends per request.
//
// Write copies and returns; a goroutine of the connection's own writes what has gathered as
// soon as it runs. Go's scheduler runs a goroutine a writer wakes right after that writer
// blocks, usually to wait for the answer, so a batch is what one goroutine wrote in one go
// and no write waits on a timer. A failed write is returned by the next Write, as
// x/net/http2's own buffered writer does.
type batchedConn struct {
	net.Conn

	mu   sync.Mutex
	wake sync.Cond // the flusher waits for bytes or Close
	room sync.Cond // writers wait for the flusher to take a full batch
	// pending is what was written and not yet handed to Conn.Write.
	pending []byte
	// err is the first write error, or net.ErrClosed after Close: every later Write fails.
	err     error
	closing bool
	flushed chan struct{} // closed when the flusher returns
}

// BatchWrites returns c with its writes batched, for a connection HTTP/2 writes on: the
// proxy's own, and the east-west gateway's.
func BatchWrites(c net.Conn) net.Conn { return newBatchedConn(c) }

func newBatchedConn(c net.Conn) *batchedConn {
	b := &batchedConn{Conn: c, flushed: make(chan struct{})}
	b.wake.L, b.room.L = &b.mu, &b.mu
	go b.flush()
	return b
}

func (b *batchedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.pending) > 0 && len(b.pending)+len(p) > maxBatch {
		b.room.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(b.pending) == 0 {
		b.wake.Signal()
	}
	b.pending = append(b.pending, p...)
	return len(p), nil
}

func (b *batchedConn) flush() {
	defer close(b.flushed)
	var out []byte
	for {
		b.mu.Lock()
		for len(b.pending) == 0 && !b.closing {
			b.wake.Wait()
		}
		if len(b.pending) == 0 {
			b.mu.Unlock()
			return
		}
		out, b.pending = b.pending, out[:0]
		b.room.Broadcast()
		b.mu.Unlock()

		if _, err := b.Conn.Write(out); err != nil {
			b.mu.Lock()
			b.err = err
			b.pending = nil
			b.room.Broadcast()
			b.mu.Unlock()
			return
		}
	}
}

// Close writes what was written before it, within closeFlushTimeout, and closes the
// connection.
func (b *batchedConn) Close() error {
	b.mu.Lock()
	if b.err == nil {
		b.err = net.ErrClosed
	}
	b.closing = true
	b.wake.Signal()
	b.room.Broadcast()
	b.mu.Unlock()
	b.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	<-b.flushed
	return b.Conn.Close()
}

// dialBatched dials with dial and batches the connection's writes.
func dialBatched(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), network, addr string) (net.Conn, error) {
	c, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return newBatchedConn(c), nil
}

// readBufSize is a bufferedReads' buffer: a few HTTP/2 frames of a request or answer.
const readBufSize = 4 << 10

// bufferedReads reads its connection through a buffer. golang.org/x/net/http2's server reads
// each frame's 9-byte header and then its payload straight from the connection it serves, two
// syscalls a frame on a plain connection; through the buffer, the frames that arrived together
// cost one. (A TLS connection buffers its records already, and the HTTP/2 client its reads.)
type bufferedReads struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedReads(c net.Conn) *bufferedReads {
	return &bufferedReads{Conn: c, r: bufio.NewReaderSize(c, readBufSize)}
}

func (b *bufferedReads) Read(p []byte) (int, error) { return b.r.Read(p) }
