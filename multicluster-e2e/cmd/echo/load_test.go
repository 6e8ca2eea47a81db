package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load counts answers from an echo server as ok and anything else as failed, with why.
func TestLoaderCounts(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 0 {
			w.Header().Set("Meshfed-Proxy-Error", "web-east has no ready endpoint")
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "echo web-1")
	}))
	defer srv.Close()
	var l loader
	l.start(srv.URL, 200)
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls after 10s at 200/s", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.stop()
	// The call in flight when the load stopped counts as neither.
	got := l.summary()
	var ok, failed int
	if _, err := fmt.Sscanf(got, "ok %d failed %d", &ok, &failed); err != nil {
		t.Fatalf("summary %q: %v", got, err)
	}
	if ok == 0 || failed == 0 || ok+failed < int(calls.Load())-1 {
		t.Errorf("summary %q after %d calls, half of them failing", got, calls.Load())
	}
	if !strings.Contains(got, "503 Service Unavailable: web-east has no ready endpoint") {
		t.Errorf("summary %q does not say why calls failed", got)
	}
}
