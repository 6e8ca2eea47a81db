// Command echo is the test workload of the multi-cluster suite, one static binary that is
// both ends of a conversation, since its image holds nothing else:
//
//	echo serve [--listen :8080] [--fail-percent N]
//	                                HTTP server answering with who it is (and with a 500 to N
//	                                of every 100 requests, for a back end that half fails)
//	echo get URL                    GET URL and print the body; exit 1 on failure
//	echo resolve NAME               print the addresses NAME resolves to
//	echo ready|unready [--admin URL] make the local server pass or fail its readiness probe
//	echo certify --identity ID ...  ask the identity service for a leaf; print its chain as PEM
//
// The server answers GET / with "echo <hostname>" and serves /readyz for probes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

const usage = "usage: echo serve [--listen :8080] [--fail-percent N] | get URL | resolve NAME | ready | unready | certify --identity ID | load-start [--rate N] URL | load-read | load-stop"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address the server listens on")
	admin := fs.String("admin", "http://127.0.0.1:8080", "the local server, for ready and unready")
	timeout := fs.Duration("timeout", 5*time.Second, "how long get, resolve and certify may take")
	rate := fs.Int("rate", 20, "calls a second of load-start")
	failPercent := fs.Int("fail-percent", 0, "serve: answer GET / with a 500 to this many of every 100 requests, spread evenly")
	var c certifyFlags
	c.add(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch args[0] {
	case "serve":
		if *failPercent < 0 || *failPercent > 100 {
			return fmt.Errorf("--fail-percent %d: give 0 to 100", *failPercent)
		}
		return serve(*listen, *failPercent)
	case "get":
		if fs.NArg() != 1 {
			return errors.New("get needs one URL")
		}
		return get(ctx, fs.Arg(0), out)
	case "resolve":
		if fs.NArg() != 1 {
			return errors.New("resolve needs one name")
		}
		addrs, err := net.DefaultResolver.LookupHost(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		for _, a := range addrs {
			fmt.Fprintln(out, a)
		}
		return nil
	case "certify":
		return certify(ctx, c, out)
	case "ready", "unready":
		return call(ctx, http.MethodPost, *admin+"/"+args[0], out)
	case "load-start":
		if fs.NArg() != 1 {
			return errors.New("load-start needs one URL")
		}
		return call(ctx, http.MethodPost, *admin+"/load?"+url.Values{"url": {fs.Arg(0)}, "rate": {strconv.Itoa(*rate)}}.Encode(), out)
	case "load-read":
		return call(ctx, http.MethodGet, *admin+"/load", out)
	case "load-stop":
		return call(ctx, http.MethodDelete, *admin+"/load", out)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

func get(ctx context.Context, url string, out io.Writer) error {
	return call(ctx, http.MethodGet, url, out)
}

// call sends one request and copies a 200's body to out; anything else is an error that says
// why: the mesh's proxy says it in its Meshfed-Proxy-Error header, the pod's server in its body.
func call(ctx context.Context, method, target string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		why := resp.Header.Get("Meshfed-Proxy-Error")
		if why == "" {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			why = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s %s: %s: %s", method, target, resp.Status, why)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}

func serve(listen string, failPercent int) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	host, _ := os.Hostname()
	var load loader
	defer load.stop()
	srv := &http.Server{Addr: listen, Handler: handler(host, failPercent, &load), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("serving", "listen", listen, "host", host, "failPercent", failPercent)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// failer decides which requests fail: exactly percent of every 100, spread evenly (with 50,
// every second one), so that a success rate measured over any stretch of requests is the
// one asked for, not a dice roll's.
type failer struct {
	percent int
	n       atomic.Uint64
}

func (f *failer) fail() bool {
	n := f.n.Add(1)
	p := uint64(f.percent)
	return n*p/100 > (n-1)*p/100
}

// handler serves GET / (who it is, or a 500 when f says so), /readyz, and the pod-local
// controls of readiness and load. Probes never fail by --fail-percent: the back end is
// faulty, not unready, so it stays an endpoint and keeps taking calls.
func handler(host string, failPercent int, load *loader) http.Handler {
	var unready atomic.Bool
	f := &failer{percent: failPercent}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if f.fail() {
			http.Error(w, fmt.Sprintf("echo %s fails %d%% of requests (--fail-percent)", host, failPercent), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "echo %s\n", host)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if unready.Load() {
			http.Error(w, "made unready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	// Only from inside the pod: the suite flips readiness with kubectl exec.
	local := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if ip, _, _ := net.SplitHostPort(r.RemoteAddr); !net.ParseIP(ip).IsLoopback() {
				http.Error(w, "only from the pod itself", http.StatusForbidden)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /unready", local(func(w http.ResponseWriter, r *http.Request) { unready.Store(true) }))
	mux.HandleFunc("POST /ready", local(func(w http.ResponseWriter, r *http.Request) { unready.Store(false) }))
	load.register(mux, local)
	return mux
}
