package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxLoadErrors bounds the distinct errors a load keeps to report.
const maxLoadErrors = 5

// loader calls one URL at a steady rate from the server's own process, so that a test can
// keep traffic flowing while it changes the mesh under it (an anchor rotation, say), then ask
// how many calls failed. Started, read and stopped with `echo load-start` and `echo load-stop`.
type loader struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	ok     int
	failed int
	errs   []string
}

// start replaces any load running with one calling url rate times a second.
func (l *loader) start(url string, rate int) {
	l.stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.mu.Lock()
	l.cancel, l.done, l.ok, l.failed, l.errs = cancel, done, 0, 0, nil
	l.mu.Unlock()
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l.record(callOnce(ctx, client, url))
		}
	}()
}

func callOnce(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return errStopped
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "echo ") {
		return fmt.Errorf("%s: %s %s", resp.Status, resp.Header.Get("Meshfed-Proxy-Error"), strings.TrimSpace(string(body)))
	}
	return nil
}

// errStopped is a call cut short by stop: neither ok nor the mesh's failure.
var errStopped = errors.New("load stopped")

func (l *loader) record(err error) {
	if errors.Is(err, errStopped) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.ok++
		return
	}
	l.failed++
	if msg := err.Error(); len(l.errs) < maxLoadErrors && !contains(l.errs, msg) {
		l.errs = append(l.errs, msg)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stop ends the load, waiting for its last call.
func (l *loader) stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel = nil
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// summary is what load-stop prints: "ok N failed M", then one line per distinct error.
func (l *loader) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := fmt.Sprintf("ok %d failed %d\n", l.ok, l.failed)
	for _, e := range l.errs {
		s += e + "\n"
	}
	return s
}

func (l *loader) register(mux *http.ServeMux, local func(http.HandlerFunc) http.HandlerFunc) {
	mux.HandleFunc("POST /load", local(func(w http.ResponseWriter, r *http.Request) {
		url := r.URL.Query().Get("url")
		rate, err := strconv.Atoi(r.URL.Query().Get("rate"))
		if url == "" || err != nil || rate < 1 || rate > 1000 {
			http.Error(w, "give url and rate (1 to 1000 a second)", http.StatusBadRequest)
			return
		}
		l.start(url, rate)
	}))
	mux.HandleFunc("GET /load", local(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, l.summary()) }))
	mux.HandleFunc("DELETE /load", local(func(w http.ResponseWriter, r *http.Request) {
		l.stop()
		io.WriteString(w, l.summary())
	}))
}
