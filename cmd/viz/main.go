// Command viz is the viz API: it reads one Prometheus per cluster of the federation and
// answers `mesh viz` and the dashboard (package pkg/viz).
//
//	viz --prometheus west=http://prometheus.mesh-viz.svc:9090 \
//	    --prometheus east=http://prometheus-east.mesh-viz.svc:9090 [--listen :8084]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/pkg/proxy/setup"
	"github.com/meshfed/meshfed/pkg/viz"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "viz:", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run serves the viz API until ctx ends. ready, when set, gets the address it listens on.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("viz", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var proms, tds listFlag
	fs.Var(&proms, "prometheus", "CLUSTER=URL of one cluster's Prometheus; repeat for every cluster of the federation")
	fs.Var(&tds, "trust-domain", "CLUSTER=TRUST-DOMAIN of a cluster whose trust domain is not CLUSTER.meshfed.local; repeatable")
	listen := fs.String("listen", ":8084", "address to serve the API on")
	timeout := fs.Duration("query-timeout", 10*time.Second, "bound of each query to a Prometheus")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	recorded := fs.Bool("recording-rules", false, "every Prometheus loads pkg/viz's recording rules (mesh viz install's do): answer for the default window from their series")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag (--help lists them)", fs.Args())
	}
	log, err := setup.Logger(*logLevel, stderr)
	if err != nil {
		return err
	}
	domains := map[string]string{}
	for _, t := range tds {
		c, d, ok := strings.Cut(t, "=")
		if !ok || c == "" || d == "" {
			return fmt.Errorf("--trust-domain %q: want CLUSTER=TRUST-DOMAIN, such as east=east.example.org", t)
		}
		domains[c] = d
	}
	var sources []viz.Source
	for _, p := range proms {
		s, err := viz.ParseSource(p, domains, nil)
		if err != nil {
			return err
		}
		sources = append(sources, s)
	}
	opts := []viz.Option{viz.WithQueryTimeout(*timeout)}
	if *recorded {
		opts = append(opts, viz.WithRecordingRules())
	}
	srv, err := viz.NewServer(sources, log, opts...)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	clusters := make([]string, len(sources))
	for i, s := range sources {
		clusters[i] = s.Cluster
	}
	log.Info("viz API serving", "addr", l.Addr().String(), "clusters", clusters)
	if ready != nil {
		ready <- l.Addr().String()
	}
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
