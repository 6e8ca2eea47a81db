package proxy

import (
	"sync"
	"time"
)

// flushInterval is the longest a response of known length waits in the proxy's buffers. Not
// -1 (flush every write): ReverseProxy flushes every write anyway when the length is unknown
// (gRPC, server-sent events, any stream), and with -1 a short response went out as two
// writes, its headers on an immediate timer and then its body, where one does.
const flushInterval = 10 * time.Millisecond

// copyBufSize is the size of the buffers bodies are copied through: ReverseProxy's own default.
const copyBufSize = 32 << 10

// bufferPool lends ReverseProxy its copy buffers. Without one it allocates (and zeroes) a
// 32 KiB buffer for every request, which under load is most of what the garbage collector
// has to do.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any {
		b := make([]byte, copyBufSize)
		return &b
	}}}
}

func (p *bufferPool) Get() []byte { return *p.pool.Get().(*[]byte) }

func (p *bufferPool) Put(b []byte) {
	if cap(b) < copyBufSize {
		return
	}
	b = b[:copyBufSize]
	p.pool.Put(&b)
}
