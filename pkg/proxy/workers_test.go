package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/testenv"
)

func TestWorkersServeOneAfterAnotherOnOneWorker(t *testing.T) {
	ws := newWorkers(4)
	defer ws.close()
	served := 0
	h := ws.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.WriteHeader(http.StatusNoContent)
	}))
	for i := 0; i < 100; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, http.StatusNoContent)
		}
	}
	if served != 100 {
		t.Fatalf("the handler served %d of 100 requests", served)
	}
	if n := len(ws.slots); n != 1 {
		t.Fatalf("%d workers for requests one after another, want 1", n)
	}
}

func TestWorkersPastTheirBoundServeOnTheRequestsGoroutine(t *testing.T) {
	const max, requests = 2, 5
	ws := newWorkers(max)
	defer ws.close()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(requests)
	h := ws.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		<-release
	}))
	var done sync.WaitGroup
	for i := 0; i < requests; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}()
	}
	// Every request is in its handler at once, so none waits for a worker.
	started.Wait()
	if n := len(ws.slots); n != max {
		t.Errorf("%d workers for %d requests at once, want the bound, %d", n, requests, max)
	}
	close(release)
	done.Wait()
}

func TestWorkersRaiseAHandlersPanicOnTheRequestsGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		raise any
		check func(got any) error
	}{{
		name:  "http.ErrAbortHandler, which x/net/http2 tells apart, as it is",
		raise: http.ErrAbortHandler,
		check: func(got any) error {
			if got != http.ErrAbortHandler {
				return fmt.Errorf("raised %v, want http.ErrAbortHandler itself", got)
			}
			return nil
		},
	}, {
		name:  "any other with the worker's stack",
		raise: "broken",
		check: func(got any) error {
			s, _ := got.(string)
			if !strings.HasPrefix(s, "broken\n") || !strings.Contains(s, "workers_test.go") {
				return fmt.Errorf("raised %q, want the value and the stack where it began", got)
			}
			return nil
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWorkers(4)
			defer ws.close()
			h := ws.handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(tc.raise) }))
			got := func() (p any) {
				defer func() { p = recover() }()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
				return nil
			}()
			if err := tc.check(got); err != nil {
				t.Fatal(err)
			}
			// The worker lives on and serves the next request.
			h = ws.handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != http.StatusAccepted || len(ws.slots) != 1 {
				t.Fatalf("after the panic: status %d with %d workers, want %d with 1", rec.Code, len(ws.slots), http.StatusAccepted)
			}
		})
	}
}

func TestWorkersEndWhenClosed(t *testing.T) {
	ws := newWorkers(4)
	h := ws.handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	ws.close()
	testenv.Eventually(t, 5*time.Second, "the idle worker to end", func() error {
		if n := len(ws.slots); n != 0 {
			return fmt.Errorf("%d workers live", n)
		}
		return nil
	})
	// A request after close is still served.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("after close: status %d", rec.Code)
	}
}
