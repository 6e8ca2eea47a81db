package proxy

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
)

// maxWorkers bounds the goroutines kept for HTTP/2 requests. Past it a request runs on the
// goroutine x/net/http2 started for it, as it would without workers.
const maxWorkers = 128

// workers run the proxy's HTTP/2 handlers on goroutines kept from one request to the next.
//
// x/net/http2 starts a goroutine for every stream, and proxying a request takes a deeper
// stack than a new goroutine has: the runtime grew and copied a stack for every request, a
// tenth of the server-side proxy's CPU in bench/proxy. A worker keeps the stack it grew. The
// stream's own goroutine waits for its worker, so the handler's ResponseWriter is used
// within the handler's lifetime, as x/net/http2 requires. grpc-go's NumStreamWorkers is the
// same remedy for the same cost.
type workers struct {
	// jobs is unbuffered: a send succeeds only when an idle worker is waiting for one.
	jobs chan *job
	// slots holds a token for each live worker.
	slots chan struct{}
	quit  chan struct{}
	stop  sync.Once
	free  sync.Pool
}

type job struct {
	h    http.Handler
	w    http.ResponseWriter
	r    *http.Request
	done chan any // receives the handler's panic, or nil, when it returns
}

func newWorkers(max int) *workers {
	ws := &workers{jobs: make(chan *job), slots: make(chan struct{}, max), quit: make(chan struct{})}
	ws.free.New = func() any { return &job{done: make(chan any, 1)} }
	return ws
}

// handler returns h served by the workers.
func (ws *workers) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ws.serve(h, w, r) })
}

func (ws *workers) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	j := ws.free.Get().(*job)
	j.h, j.w, j.r = h, w, r
	select {
	case ws.jobs <- j:
	default:
		select {
		case ws.slots <- struct{}{}:
			go ws.work(j)
		default:
			// Every worker is busy and no more may start.
			ws.release(j)
			h.ServeHTTP(w, r)
			return
		}
	}
	p := <-j.done
	ws.release(j)
	if p != nil {
		// Raised again where x/net/http2 recovers it: http.ErrAbortHandler, from a
		// ReverseProxy whose copy of the body failed, resets the stream as before.
		panic(p)
	}
}

func (ws *workers) release(j *job) {
	j.h, j.w, j.r = nil, nil, nil
	ws.free.Put(j)
}

func (ws *workers) work(j *job) {
	defer func() { <-ws.slots }()
	for {
		j.done <- run(j)
		select {
		case j = <-ws.jobs:
		case <-ws.quit:
			return
		}
	}
}

// run serves one job and returns its panic, if any. The worker's stack goes with any panic
// but http.ErrAbortHandler (which x/net/http2 tells apart and does not log), as the stream's
// goroutine that raises it again has a stack that says nothing of where it began.
func run(j *job) (p any) {
	defer func() {
		if p = recover(); p != nil && p != http.ErrAbortHandler {
			p = fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	j.h.ServeHTTP(j.w, j.r)
	return nil
}

// close lets idle workers go, and busy ones once their request is done.
func (ws *workers) close() {
	ws.stop.Do(func() { close(ws.quit) })
}
