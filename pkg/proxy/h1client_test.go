package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h1App is an app on loopback that counts the connections it was given.
type h1App struct {
	*httptest.Server
	conns atomic.Int32
}

func newH1App(t *testing.T, h http.HandlerFunc) *h1App {
	t.Helper()
	a := &h1App{Server: httptest.NewUnstartedServer(h)}
	a.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.Start()
	t.Cleanup(a.Close)
	return a
}

// fallbackCounter is the Transport the client hands the requests it does not take.
type fallbackCounter struct {
	rt    http.RoundTripper
	calls atomic.Int32
}

func (f *fallbackCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return f.rt.RoundTrip(req)
}

func newTestH1Client(t *testing.T) (*h1Client, *fallbackCounter) {
	fb := &fallbackCounter{rt: &http.Transport{}}
	c := newH1Client((&net.Dialer{}).DialContext, fb)
	t.Cleanup(c.closeIdle)
	return c, fb
}

func h1Get(t *testing.T, c http.RoundTripper, method, url string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestH1ClientAnswersAsTheAppDid(t *testing.T) {
	app := newH1App(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "Checksum")
			io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part two")
			w.Header().Set("Checksum", "abc")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("X-Path", r.URL.Path)
			fmt.Fprintf(w, "%s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		}
	})
	c, fb := newTestH1Client(t)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{http.MethodGet, "/a?x=1", 200, "GET /a?x=1"},
		{http.MethodHead, "/a", 200, ""},
		{http.MethodOptions, "/b", 200, "OPTIONS /b?"},
		{http.MethodGet, "/empty", 204, ""},
		{http.MethodGet, "/chunked", 200, "part one, part two"},
	} {
		code, _, body := h1Get(t, c, tc.method, app.URL+tc.path, nil)
		if code != tc.code || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
	if n := app.conns.Load(); n != 1 {
		t.Errorf("the app was given %d connections for requests one after another, want 1", n)
	}
	if n := fb.calls.Load(); n != 0 {
		t.Errorf("%d requests without a body went to the Transport", n)
	}
}

func TestH1ClientLeavesTheOtherRequestsToTheTransport(t *testing.T) {
	app := newH1App(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %q", b)
	})
	c, fb := newTestH1Client(t)
	if _, _, body := h1Get(t, c, http.MethodPost, app.URL, strings.NewReader("order")); body != `got "order"` {
		t.Errorf("POST with a body: %q", body)
	}
	// Not to be sent twice, should a kept connection turn out closed.
	if _, _, body := h1Get(t, c, http.MethodPost, app.URL, nil); body != `got ""` {
		t.Errorf("POST without a body: %q", body)
	}
	req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	if resp, err := c.RoundTrip(req); err == nil {
		resp.Body.Close()
	}
	if n := fb.calls.Load(); n != 3 {
		t.Errorf("%d of the three requests went to the Transport", n)
	}
}

func TestH1ClientKeepsOnlyConnectionsReadToTheEnd(t *testing.T) {
	app := newH1App(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, strings.Repeat("x", 64<<10))
	})
	c, _ := newTestH1Client(t)

	// A body closed before its end takes its connection with it.
	req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 10))
	resp.Body.Close()
	h1Get(t, c, http.MethodGet, app.URL, nil)
	if n := app.conns.Load(); n != 2 {
		t.Errorf("after a body closed unread: %d connections, want 2", n)
	}
	// An app that says it closes is not asked again on that connection.
	h1Get(t, c, http.MethodGet, app.URL+"/close", nil)
	h1Get(t, c, http.MethodGet, app.URL, nil)
	if n := app.conns.Load(); n != 3 {
		t.Errorf("after Connection: close: %d connections, want 3", n)
	}
}

func TestH1ClientSendsAgainOnAConnectionTheAppClosedIdle(t *testing.T) {
	const kept = 3
	var gate sync.WaitGroup
	app := newH1App(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gate" {
			// Requests at once, each on a connection of its own, all kept after.
			gate.Done()
			gate.Wait()
		}
		io.WriteString(w, r.Method)
	})
	c, _ := newTestH1Client(t)
	for _, tc := range []struct {
		method string
		header string
	}{
		{http.MethodGet, ""},
		{http.MethodPost, "Idempotency-Key"},
	} {
		gate.Add(kept)
		var sent sync.WaitGroup
		for range kept {
			sent.Add(1)
			go func() {
				defer sent.Done()
				h1Get(t, c, http.MethodGet, app.URL+"/gate", nil)
			}()
		}
		sent.Wait()
		// As an app's idle timeout, or its restart, does.
		app.CloseClientConnections()
		req, _ := http.NewRequest(tc.method, app.URL, nil)
		if tc.header != "" {
			req.Header.Set(tc.header, "42")
		}
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s on a connection the app closed: %v", tc.method, tc.header, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The other kept connections, closed as well, are not tried.
		if _, _, body := h1Get(t, c, http.MethodGet, app.URL, nil); body != http.MethodGet {
			t.Errorf("the request after: %q", body)
		}
	}
}

func TestH1ClientGivesUpWhenTheRequestIsGivenUp(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	app := newH1App(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	c, _ := newTestH1Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, app.URL, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(req)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a request given up: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request given up still waited for the app after 5 s")
	}
}

func TestH1ClientPassesOnInformationalAnswers(t *testing.T) {
	app := newH1App(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "page")
	})
	c, _ := newTestH1Client(t)
	var hints []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, code)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, app.URL, nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "page" || len(hints) != 1 || hints[0] != http.StatusEarlyHints {
		t.Errorf("got %d %q after informational %v, want 200 %q after [103]", resp.StatusCode, body, hints, "page")
	}
}
