// Command gateway measures what the east-west gateway costs: the same load through two paths
// on loopback, side by side.
//
//   - in-cluster: the load generator to a client proxy's outbound listener, mTLS to a server
//     proxy's inbound listener, then the app: the path of a call inside one cluster;
//
//   - via gateway: the same client proxy, an outer mTLS session to the east-west gateway, a
//     CONNECT tunnel through it to the same server proxy and, inside the tunnel, the client
//     proxy's own mTLS with it: the path of a call to another cluster (the identities are of
//     two clusters, west and east, under one anchor).
//
// The client proxy, the gateway and the server proxy are each this binary re-executed as its
// own process (the hidden __node subcommand), so that the gateway's RSS is its own. The load
// generator and the apps are fortio, as in bench/proxy (package bench/internal/loadtest). The
// measures, for each path: HTTP/1.1 and gRPC latency (p50, p99, p99.9) at a fixed rate and the
// most requests per second the same connections get through; and the gateway's RSS idle and
// its peak during the max-rate runs. The goals: the gateway adds less than 0.3 ms at p50, the
// gateway path keeps more than 80% of the in-cluster max req/s, the gateway's RSS idle is
// under 30 MiB.
//
//	go run ./bench/gateway [-duration 5s] [-qps 1000] [-c 8]
//	go run ./bench/gateway -short   # 1 s runs
//
// Every process it starts dies with it, Ctrl-C included.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
	"github.com/meshfed/meshfed/internal/benchstat"
	"github.com/meshfed/meshfed/pkg/trust"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == nodeCommand {
		err = runNode(os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = run(os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

// The goals the table checks.
const (
	goalAddedP50 = 300 * time.Microsecond
	goalRate     = 0.8
	goalRSS      = 30 << 20
)

var (
	clientID  = trust.ID{TrustDomain: "west.meshfed.local", Namespace: "bench", ServiceAccount: "client"}
	serverID  = trust.ID{TrustDomain: "east.meshfed.local", Namespace: "bench", ServiceAccount: "server"}
	gatewayID = trust.ID{TrustDomain: "east.meshfed.local", Namespace: "mesh-multicluster", ServiceAccount: "meshfed-gateway"}
)

type options struct {
	duration time.Duration
	qps      int
	conns    int
}

// protocols measured, in the table's order.
var protocols = []struct {
	name string
	grpc bool
}{{"HTTP/1.1", false}, {"gRPC", true}}

// results are one path's measures, by protocol.
type results struct {
	latency [][]time.Duration
	maxRate []float64
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench/gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long each load run lasts")
	fs.IntVar(&o.qps, "qps", 1000, "the fixed rate of the latency runs, requests per second")
	fs.IntVar(&o.conns, "c", 8, "connections of the load generator")
	short := fs.Bool("short", false, "a quick check: -duration 1s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *short {
		o.duration = time.Second
	}
	if o.duration <= 0 || o.qps <= 0 || o.conns <= 0 {
		return fmt.Errorf("-duration, -qps and -c must be positive")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	fortio, err := loadtest.BuildFortio(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	files, err := writePKI(tmp)
	if err != nil {
		return err
	}
	apps, err := loadtest.StartApps(ctx, fortio, "")
	if err != nil {
		return err
	}
	defer apps.Server.Stop()
	n, err := startNodes(ctx, files, apps)
	if err != nil {
		return err
	}
	defer n.stop()

	// Idle: after start, before any traffic.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	idle, err := n.gateway.Memory()
	if err != nil {
		return err
	}
	paths := []struct {
		name  string
		addrs []string
	}{{"in-cluster", n.direct}, {"via gateway", n.via}}
	res := []*results{newResults(), newResults()}
	var loaded loadtest.Memory
	for i, proto := range protocols {
		for j, p := range paths {
			warm := loadtest.Load{GRPC: proto.grpc, QPS: 200, Conns: o.conns, Duration: 500 * time.Millisecond}
			if _, err := warm.Run(ctx, fortio, p.addrs[i]); err != nil {
				return n.failed(fmt.Errorf("%s, %s warm-up: %w", p.name, proto.name, err))
			}
			fmt.Fprintf(stderr, "%s: %s at %d/s\n", p.name, proto.name, o.qps)
			fixed := loadtest.Load{GRPC: proto.grpc, QPS: o.qps, Conns: o.conns, Duration: o.duration}
			r, err := fixed.Run(ctx, fortio, p.addrs[i])
			if err != nil {
				return n.failed(fmt.Errorf("%s, %s: %w", p.name, proto.name, err))
			}
			if res[j].latency[i], err = r.Latencies(); err != nil {
				return err
			}
		}
		for j, p := range paths {
			fmt.Fprintf(stderr, "%s: %s max req/s\n", p.name, proto.name)
			unbound := loadtest.Load{GRPC: proto.grpc, Conns: o.conns, Duration: o.duration}
			stopSampling := make(chan struct{})
			sampled := make(chan struct{})
			var peak []loadtest.Memory
			var memErr error
			go func() {
				defer close(sampled)
				peak, memErr = loadtest.MemoryPeak([]*loadtest.Process{n.gateway}, 100*time.Millisecond, stopSampling)
			}()
			r, err := unbound.Run(ctx, fortio, p.addrs[i])
			close(stopSampling)
			<-sampled
			if err != nil {
				return n.failed(fmt.Errorf("%s, %s max req/s: %w", p.name, proto.name, err))
			}
			if memErr != nil {
				return memErr
			}
			res[j].maxRate[i] = r.ActualQPS
			if j == 1 {
				loaded = loaded.Max(peak[0])
			}
		}
	}
	if err := printTable(stdout, o, res[0], res[1], idle, loaded); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "load average of the machine (%d cores, shared): %s\n", runtime.NumCPU(), loadAverage())
	return err
}

func newResults() *results {
	return &results{latency: make([][]time.Duration, len(protocols)), maxRate: make([]float64, len(protocols))}
}

// pkiFiles are the anchor and each cluster's issuer, which each part signs its leaf with.
type pkiFiles struct {
	anchor                               string
	westCert, westKey, eastCert, eastKey string
}

func writePKI(dir string) (*pkiFiles, error) {
	now := time.Now()
	anchor, err := trust.NewAnchor("bench/gateway anchor", 24*time.Hour, now)
	if err != nil {
		return nil, err
	}
	f := &pkiFiles{anchor: filepath.Join(dir, "anchor.pem")}
	if err := os.WriteFile(f.anchor, anchor.CertPEM(), 0o600); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		cluster   string
		cert, key *string
	}{{"west", &f.westCert, &f.westKey}, {"east", &f.eastCert, &f.eastKey}} {
		issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName(c.cluster), 12*time.Hour, now)
		if err != nil {
			return nil, err
		}
		keyPEM, err := issuer.KeyPEM()
		if err != nil {
			return nil, err
		}
		*c.cert, *c.key = filepath.Join(dir, c.cluster+".crt"), filepath.Join(dir, c.cluster+".key")
		if err := os.WriteFile(*c.cert, issuer.CertPEM(), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(*c.key, keyPEM, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// nodes are the three parts, and the addresses the load generator dials for each path.
type nodes struct {
	client, gateway, server *loadtest.Process
	direct, via             []string // by protocol
}

func (n *nodes) stop() {
	for _, p := range []*loadtest.Process{n.client, n.gateway, n.server} {
		if p != nil {
			p.Stop()
		}
	}
}

// failed adds what the parts last said to err.
func (n *nodes) failed(err error) error {
	for _, p := range []*loadtest.Process{n.client, n.gateway, n.server} {
		err = fmt.Errorf("%w\n%s said:\n%s", err, p.Name, p.Tail(10))
	}
	return err
}

var listeningLine = regexp.MustCompile(`^listening (.*)$`)

func startNodes(ctx context.Context, f *pkiFiles, a *loadtest.Apps) (_ *nodes, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	n := &nodes{}
	defer func() {
		if err != nil {
			n.stop()
		}
	}()
	east := []string{"-anchor", f.anchor, "-issuer-cert", f.eastCert, "-issuer-key", f.eastKey}
	targets := []string{a.HTTP, a.GRPC}
	args := append([]string{"-role", "server", "-id", serverID.String()}, east...)
	for _, t := range targets {
		args = append(args, "-inbound", t[strings.LastIndex(t, ":")+1:])
	}
	var inbound []string
	if n.server, inbound, err = startNode(ctx, self, "server proxy", args, len(targets)); err != nil {
		return nil, err
	}
	authorities := []string{"http.bench.svc.cluster.local:8080", "grpc.bench.svc.cluster.local:8079"}
	args = append([]string{"-role", "gateway", "-id", gatewayID.String(), "-peer", serverID.String()}, east...)
	for i, auth := range authorities {
		args = append(args, "-service", auth+"="+inbound[i])
	}
	var gw []string
	if n.gateway, gw, err = startNode(ctx, self, "gateway", args, 1); err != nil {
		return nil, err
	}
	args = []string{"-role", "client", "-id", clientID.String(), "-peer", serverID.String(), "-gateway-id", gatewayID.String(),
		"-anchor", f.anchor, "-issuer-cert", f.westCert, "-issuer-key", f.westKey}
	for _, in := range inbound {
		args = append(args, "-direct", in)
	}
	for _, auth := range authorities {
		args = append(args, "-via", gw[0]+"="+auth)
	}
	var out []string
	if n.client, out, err = startNode(ctx, self, "client proxy", args, 2*len(targets)); err != nil {
		return nil, err
	}
	n.direct, n.via = out[:len(targets)], out[len(targets):]
	return n, nil
}

func startNode(ctx context.Context, self, name string, args []string, want int) (*loadtest.Process, []string, error) {
	p, err := loadtest.StartProcess(ctx, name, nil, self, append([]string{nodeCommand}, args...)...)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.Await(listeningLine, 1, 10*time.Second)
	if err != nil {
		p.Stop()
		return nil, nil, err
	}
	addrs := strings.Fields(m[0][1])
	if len(addrs) != want {
		p.Stop()
		return nil, nil, p.Failure(fmt.Errorf("listens on %d addresses, want %d", len(addrs), want))
	}
	return p, addrs, nil
}

func printTable(out io.Writer, o options, in, via *results, idle, loaded loadtest.Memory) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "measure (%d connections, %s runs)\tin-cluster\tvia gateway\tgateway adds\tgoal\n", o.conns, o.duration)
	var missed []string
	mark := func(goal, what string, met bool) string {
		if met {
			return goal + " ✓"
		}
		missed = append(missed, what+": "+goal)
		return goal + " ✗"
	}
	for i, proto := range protocols {
		for j, p := range loadtest.Percentiles {
			goal := ""
			if p == 50 {
				goal = mark(fmt.Sprintf("adds < %s", benchstat.Millis(goalAddedP50)), proto.name, via.latency[i][j]-in.latency[i][j] < goalAddedP50)
			}
			fmt.Fprintf(w, "%s p%g at %d req/s\t%s\t%s\t%s\t%s\n", proto.name, p, o.qps,
				benchstat.Millis(in.latency[i][j]), benchstat.Millis(via.latency[i][j]), signed(via.latency[i][j]-in.latency[i][j]), goal)
		}
		ratio := 0.0
		if in.maxRate[i] > 0 {
			ratio = via.maxRate[i] / in.maxRate[i]
		}
		fmt.Fprintf(w, "%s max req/s\t%.0f/s\t%.0f/s\t%.0f%% kept\t%s\n", proto.name, in.maxRate[i], via.maxRate[i], 100*ratio,
			mark(fmt.Sprintf("> %.0f%% kept", 100*goalRate), proto.name, ratio > goalRate))
	}
	fmt.Fprintf(w, "gateway RSS idle\t-\t%s\t\t%s\n", mib(idle), mark(fmt.Sprintf("< %d MiB", goalRSS>>20), "RSS", idle.RSS < goalRSS))
	fmt.Fprintf(w, "gateway RSS peak at max req/s\t-\t%s\t\t\n", mib(loaded))
	if err := w.Flush(); err != nil {
		return err
	}
	if len(missed) == 0 {
		_, err := fmt.Fprintln(out, "goals: all met ✓")
		return err
	}
	_, err := fmt.Fprintf(out, "goals missed ✗: %s\n", strings.Join(missed, "; "))
	return err
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + benchstat.Millis(-d)
	}
	return "+" + benchstat.Millis(d)
}

func mib(m loadtest.Memory) string {
	return fmt.Sprintf("%.1f MiB (%.1f anon)", float64(m.RSS)/(1<<20), float64(m.Anon)/(1<<20))
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
