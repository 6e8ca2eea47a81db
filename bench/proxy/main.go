// Command proxy measures what the meshfed proxy costs: the same load through three paths on
// loopback, side by side.
//
//   - direct: the load generator to the app;
//
//   - meshfed pair: the load generator to a client proxy's outbound listener, mTLS (TLS 1.3,
//     HTTP/2 between proxies for HTTP) to a server proxy's inbound listener, then the app. Each
//     proxy is this binary re-executed as its own process (the hidden __proxy subcommand,
//     pkg/proxy's public API with a static resolver and a fixed original destination, as
//     without iptables), so that its RSS is its own;
//
//   - haproxy pair: Debian's haproxy as the same two sidecars: plaintext in, TLS 1.3 with
//     client certificates between them (HTTP/2 over ALPN h2 for HTTP, mode tcp for bulk),
//     the same anchor and leaves.
//
// The load generator and the apps are fortio (built once into $MESHFED_CACHE from
// hack/tools/fortio): its HTTP echo server and gRPC ping server. The measures, for each path:
// HTTP/1.1 and gRPC latency (p50, p99, p99.9) at a fixed rate; the most requests per second
// the same connections get through, and what each of those requests cost the two proxies in
// CPU time (which depends less on what else the machine runs than a rate does); bulk TCP throughput to a sink of the bench's own; each
// proxy's RSS (VmRSS) idle after start, and its peak during the max-rate runs. The table
// puts meshfed beside direct (what it adds) and beside HAProxy (the ratio), and says which
// goals are met.
//
//	go run ./bench/proxy [-duration 5s] [-qps 1000] [-c 8] [-bulk 512]
//	go run ./bench/proxy -short   # a quick check: 1 s runs, 64 MiB bulk
//	go run ./bench/proxy -cpuprofile /tmp/prof   # and where the meshfed proxies spend their CPU
//
// It needs haproxy (hack/install-deps.sh) and the Go module proxy for fortio's first build.
// Every process it starts dies with it, Ctrl-C included.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == proxyCommand {
		err = runProxy(os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = run(os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/proxy:", err)
		os.Exit(1)
	}
}

// options are the bench's flags.
type options struct {
	duration time.Duration
	qps      int
	conns    int
	bulkMiB  int64
	// cpuProfile is a folder where each meshfed proxy writes its CPU profile as it exits.
	cpuProfile string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench/proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each load run lasts")
	fs.IntVar(&o.qps, "qps", 1000, "the fixed rate of the latency runs, requests per second")
	fs.IntVar(&o.conns, "c", 8, "connections of the load generator")
	fs.Int64Var(&o.bulkMiB, "bulk", 512, "MiB sent through each path for the TCP throughput")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "a folder where the meshfed proxies write their CPU profiles (meshfed-client.pprof, meshfed-server.pprof)")
	short := fs.Bool("short", false, "a quick check: -duration 1s -bulk 64")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *short {
		o.duration, o.bulkMiB = time.Second, 64
	}
	if o.duration <= 0 || o.qps <= 0 || o.conns <= 0 || o.bulkMiB <= 0 {
		return o, fmt.Errorf("-duration, -qps, -c and -bulk must be positive")
	}
	return o, nil
}

// protocol is a kind of request the load generator sends.
type protocol struct {
	name string
	grpc bool
}

// protocols are those measured, in the table's order; paths and measures are indexed alike.
var protocols = []protocol{{"HTTP/1.1", false}, {"gRPC", true}}

// path is one way from the load generator to the apps.
type path struct {
	name    string
	addrs   []string            // what the load generator dials, by protocol
	tcp     string              // what the bulk TCP client dials
	proxies []*loadtest.Process // client side first; none for direct
}

func (p *path) stop() {
	for _, pr := range p.proxies {
		pr.Stop()
	}
}

// measures are one path's results.
type measures struct {
	latency [][]time.Duration // by protocol, at loadtest.Percentiles
	maxRate []float64         // by protocol, requests per second
	// cost is, by protocol, what the max-rate run cost the path's proxies together, per
	// request.
	cost         []perRequest
	bulk         float64           // MiB/s
	idle, loaded []loadtest.Memory // by proxy, as path.proxies
}

func newMeasures() *measures {
	return &measures{latency: make([][]time.Duration, len(protocols)), maxRate: make([]float64, len(protocols)), cost: make([]perRequest, len(protocols))}
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	// Interrupted or not, every child is stopped and the temporary folder removed: the
	// deferred calls below run, and the children die with the bench anyway (Pdeathsig).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()

	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
	}
	fortio, err := loadtest.BuildFortio(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files, err := writePKI(tmp)
	if err != nil {
		return err
	}
	sinkAddr, err := startSink(ctx)
	if err != nil {
		return err
	}
	a, err := loadtest.StartApps(ctx, fortio, sinkAddr)
	if err != nil {
		return err
	}
	defer a.Server.Stop()
	mesh, err := startMeshfed(ctx, files, a, o.cpuProfile)
	if err != nil {
		return err
	}
	defer mesh.stop()
	ha, err := startHAProxy(ctx, tmp, files, a)
	if err != nil {
		return err
	}
	defer ha.stop()
	paths := []*path{{name: "direct", addrs: []string{a.HTTP, a.GRPC}, tcp: a.TCP}, mesh, ha}

	b := &bench{o: o, fortio: fortio, log: stderr, results: map[*path]*measures{}}
	loadBefore := loadAverage()
	if err := b.measure(ctx, paths); err != nil {
		return err
	}
	if err := printTable(stdout, o, b.results[paths[0]], b.results[mesh], b.results[ha]); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "load average of the machine (%d cores, shared): %s before, %s after\n", runtime.NumCPU(), loadBefore, loadAverage())
	return err
}

// loadAverage is the machine's 1-minute load average: how much else ran beside the bench.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

// bench runs the measures.
type bench struct {
	o       options
	fortio  string
	log     io.Writer
	results map[*path]*measures
}

// step is one measure of one path.
type step struct {
	name string
	run  func(ctx context.Context, p *path, m *measures) error
}

// measure takes the idle RSS, warms every path, then runs each measure on each path in turn,
// so that whatever else the machine does at a time weighs on the three alike.
func (b *bench) measure(ctx context.Context, paths []*path) error {
	if err := b.idleMemory(ctx, paths); err != nil {
		return err
	}
	steps := []step{{"warm-up", b.warmUp}}
	for i, proto := range protocols {
		fixed := loadtest.Load{GRPC: proto.grpc, QPS: b.o.qps, Conns: b.o.conns, Duration: b.o.duration}
		steps = append(steps, step{fmt.Sprintf("%s at %d/s", proto.name, b.o.qps), func(ctx context.Context, p *path, m *measures) (err error) {
			m.latency[i], err = b.latencies(ctx, fixed, p.addrs[i])
			return err
		}})
	}
	for i, proto := range protocols {
		unbound := loadtest.Load{GRPC: proto.grpc, Conns: b.o.conns, Duration: b.o.duration}
		steps = append(steps, step{proto.name + " max req/s", func(ctx context.Context, p *path, m *measures) (err error) {
			m.maxRate[i], m.cost[i], err = b.maxRate(ctx, unbound, p.addrs[i], p, m)
			return err
		}})
	}
	steps = append(steps, step{fmt.Sprintf("bulk TCP, %d MiB", b.o.bulkMiB), func(ctx context.Context, p *path, m *measures) (err error) {
		m.bulk, err = bulk(ctx, p.tcp, b.o.bulkMiB<<20)
		return err
	}})
	for _, s := range steps {
		for _, p := range paths {
			fmt.Fprintf(b.log, "%s: %s\n", p.name, s.name)
			if err := b.runStep(ctx, s, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// idleMemory reads the proxies' memory before any traffic, once they have settled after start.
func (b *bench) idleMemory(ctx context.Context, paths []*path) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(500 * time.Millisecond):
	}
	for _, p := range paths {
		m := newMeasures()
		b.results[p] = m
		for _, pr := range p.proxies {
			mem, err := pr.Memory()
			if err != nil {
				return err
			}
			m.idle = append(m.idle, mem)
		}
	}
	return nil
}

// runStep runs one step on p; a failure says where, with what the proxies last printed.
func (b *bench) runStep(ctx context.Context, s step, p *path) error {
	err := s.run(ctx, p, b.results[p])
	if err == nil {
		for _, pr := range p.proxies {
			if err = pr.Alive(); err != nil {
				break
			}
		}
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s, %s: %w", p.name, s.name, context.Cause(ctx))
	}
	for _, pr := range p.proxies {
		err = fmt.Errorf("%w\n%s said:\n%s", err, pr.Name, pr.Tail(10))
	}
	return fmt.Errorf("%s, %s: %w", p.name, s.name, err)
}

// warmUp opens each path's connections (and the TLS between proxies) before anything is
// timed.
func (b *bench) warmUp(ctx context.Context, p *path, _ *measures) error {
	for i, proto := range protocols {
		short := loadtest.Load{GRPC: proto.grpc, QPS: 200, Conns: b.o.conns, Duration: 500 * time.Millisecond}
		if _, err := short.Run(ctx, b.fortio, p.addrs[i]); err != nil {
			return fmt.Errorf("%s: %w", proto.name, err)
		}
	}
	if _, err := bulk(ctx, p.tcp, 1<<20); err != nil {
		return fmt.Errorf("TCP: %w", err)
	}
	return nil
}

func (b *bench) latencies(ctx context.Context, l loadtest.Load, addr string) ([]time.Duration, error) {
	r, err := l.Run(ctx, b.fortio, addr)
	if err != nil {
		return nil, err
	}
	return r.Latencies()
}

// maxRate runs l as fast as it goes and returns requests per second and what each request
// cost the proxies, sampling their memory meanwhile: m.loaded keeps the highest seen.
func (b *bench) maxRate(ctx context.Context, l loadtest.Load, addr string, p *path, m *measures) (float64, perRequest, error) {
	before, err := loadtest.UsageOf(p.proxies)
	if err != nil {
		return 0, perRequest{}, err
	}
	stop := make(chan struct{})
	var peak []loadtest.Memory
	var memErr error
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		peak, memErr = loadtest.MemoryPeak(p.proxies, 100*time.Millisecond, stop)
	}()
	r, err := l.Run(ctx, b.fortio, addr)
	close(stop)
	<-sampled
	if err != nil {
		return 0, perRequest{}, err
	}
	if memErr != nil {
		return 0, perRequest{}, memErr
	}
	after, err := loadtest.UsageOf(p.proxies)
	if err != nil {
		return 0, perRequest{}, err
	}
	if m.loaded == nil {
		m.loaded = make([]loadtest.Memory, len(peak))
	}
	for i, v := range peak {
		m.loaded[i] = m.loaded[i].Max(v)
	}
	return r.ActualQPS, costPer(after.Sub(before), r.DurationHistogram.Count), nil
}

// perRequest is what a path's proxies spent on one request.
type perRequest struct {
	cpu           time.Duration
	reads, writes float64
}

func costPer(u loadtest.Usage, requests int64) perRequest {
	if requests == 0 {
		return perRequest{}
	}
	n := float64(requests)
	return perRequest{cpu: u.CPU / time.Duration(requests), reads: float64(u.Reads) / n, writes: float64(u.Writes) / n}
}
