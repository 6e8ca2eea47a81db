// Command liveness measures what a user sees when an east-west gateway dies: from kill -9 of
// east's gateway process until the link controller in west has marked the endpoints of
// east's mirror not ready, as a watch of west's apiserver tells it. Two ways, side by side,
// timed against the same kills:
//
//   - with gossip: the link controller reads the gateways' memberlist pool (pkg/membership)
//     from west's gateway's GET /members, as cmd/link wires it (mirror.FetchGatewayMembers,
//     every mirror.DefaultGatewayMembersEvery); the Link's HTTP probe stays as the fallback;
//
//   - the probe alone: the Link's HTTP probe of east's gateway at Linkerd's defaults (every
//     3 s, dead after 3 failures in a row), as cmd/link runs with no --gateway-members-url.
//
// The parts are real. Two apiservers with their etcds (west, where the Links and mirrors
// live, and east, which exports a Service), started as bench/mirror starts them. The link
// controller's reconcilers (pkg/mirror) in this process: one manager for each way, each with
// its own Link to east and caching only that Link's mirrors. Three gateways, west, east and
// north, each this binary re-executed as a process of its own (the hidden __gateway
// subcommand) on a loopback address of its own, 127.0.77.1, .2 and .3, with the design's
// ports: pkg/gateway's listener on 4143; the admin endpoint on 4191, whose /ready the probes
// read and whose /members the link controller reads; and the gateway's member of the gossip
// pool on 7946, over mutual TLS 1.3 with leaves that each cluster's issuer, under one test
// anchor, signs.
//
// East's gateway is named in the Links by 198.18.77.2, an address of the local clusters'
// range (an EndpointSlice may not hold a loopback address); the controllers' probes dial
// 127.0.77.2 for it (mirror.Options.DialGateway, as pkg/mirror's tests do), and nothing else
// is dialled: the bench talks to loopback only.
//
// Each trial waits until both mirrors are ready, kills east's gateway at a random point of
// the probe's period (as a real crash comes), waits until both ways have marked their mirror
// not ready, then starts east's gateway again, which rejoins the pool under its old name.
// Printed: p50, p99 and max of each way over the trials; for gossip, where the time went
// (until west's gateway holds east Dead, until the link controller's read of the pool says
// so, until the EndpointSlice says ready: false); the timing settings.
//
//	go run ./bench/liveness [-trials 10]
//
// Every process it starts dies with it, Ctrl-C included, and its temporary files go.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshfed/meshfed/bench/internal/linkctl"
	"github.com/meshfed/meshfed/bench/internal/loadtest"
	"github.com/meshfed/meshfed/internal/benchstat"
	"github.com/meshfed/meshfed/internal/testenv"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/membership"
	"github.com/meshfed/meshfed/pkg/mirror"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == gatewayCommand {
		err = runGateway(os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = run(os.Args[1:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/liveness:", err)
		os.Exit(1)
	}
}

// Linkerd's gateway probe defaults, which the Links here keep, and the goal with gossip.
const (
	probePeriod   = 3 * time.Second
	probeFailures = 3
	goalGossip    = 2 * time.Second
)

// gateways are the federation's, each on a loopback address of its own. West links to east
// and east's is the one killed; north makes the pool three, as a small federation is.
var gateways = []struct {
	cluster string
	ip      netip.Addr
}{
	{"west", netip.MustParseAddr("127.0.77.1")},
	{"east", netip.MustParseAddr("127.0.77.2")},
	{"north", netip.MustParseAddr("127.0.77.3")},
}

const (
	local  = "west"
	victim = "east"
)

// linkedAddr is east's gateway address as the Links name it; dialGateway takes it to east's
// loopback address.
var linkedAddr = netip.MustParseAddr("198.18.77.2")

// dialGateway is the controllers' probe dialer: linkedAddr is east's gateway on loopback, and
// no other address is dialled.
func dialGateway(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr() != linkedAddr {
		return nil, fmt.Errorf("the bench dials no %s: only the Links' gateway %s, on loopback", addr, linkedAddr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, netip.AddrPortFrom(gatewayIP(victim), ap.Port()).String())
}

func gatewayIP(cluster string) netip.Addr {
	for _, g := range gateways {
		if g.cluster == cluster {
			return g.ip
		}
	}
	panic("no gateway of " + cluster)
}

func gatewayID(cluster string) trust.ID {
	return trust.ID{TrustDomain: trust.DefaultTrustDomain(cluster), Namespace: "mesh-multicluster", ServiceAccount: "meshfed-gateway"}
}

// allowGateways admits the federation's gateways to the pool.
func allowGateways(id trust.ID) error {
	for _, g := range gateways {
		if id == gatewayID(g.cluster) {
			return nil
		}
	}
	return fmt.Errorf("%s is not a gateway of the federation", id)
}

// way is one of the two ways the link controller learns of a dead gateway: a manager of its
// own, with its own Link to east.
type way struct {
	name string
	link types.NamespacedName
	// cluster is the Link's target cluster name. The mirror's name carries it, so the
	// probe's Link names east differently for the two mirrors not to collide; without gossip
	// nothing else reads it.
	cluster string
	gossip  bool
	// times are kill to mirror not ready, one a trial.
	times []time.Duration
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench/liveness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trials := fs.Int("trials", 10, "kills timed, one after the other (each takes ~12 s: the probe runs at its real period)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trials < 1 {
		return errors.New("-trials must be positive")
	}
	// Interrupted or not, the gateways, the apiservers and their etcds are stopped on the way
	// out: the deferred stops below run, and the gateways die with this process anyway.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+time.Duration(*trials)*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "bench-liveness-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writePKI(dir); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	pair, err := linkctl.StartPair(ctx)
	if err != nil {
		return err
	}
	defer pair.Stop()

	gws := &gatewayProcs{self: self, pki: dir, procs: map[string]*loadtest.Process{}}
	defer gws.stopAll()
	for _, g := range gateways {
		if err := gws.start(ctx, g.cluster); err != nil {
			return err
		}
	}

	ways := []*way{
		{name: "with gossip", link: types.NamespacedName{Namespace: "mesh-multicluster", Name: victim}, cluster: victim, gossip: true},
		{name: "probe alone", link: types.NamespacedName{Namespace: "mesh-multicluster-probe", Name: victim}, cluster: victim + "-probe"},
	}
	if err := setUpAPI(ctx, pair, ways); err != nil {
		return err
	}
	watched, err := watchMirrors(ctx, pair.Local.Config)
	if err != nil {
		return err
	}
	membersURL := "http://" + netip.AddrPortFrom(gatewayIP(local), proxy.AdminPort).String() + "/members"
	seen := &deadSeen{}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	// The controllers stop before the apiservers do, and are waited for: else they would
	// spend their last moments logging refused connections.
	ctrlCtx, stopControllers := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() {
		stopControllers()
		running.Wait()
	}()
	errs := make(chan error, len(ways))
	for _, w := range ways {
		var members func(context.Context) ([]mirror.GatewayMember, error)
		if w.gossip {
			members = seen.wrap(mirror.FetchGatewayMembers(membersURL))
		}
		if err := startController(ctrlCtx, &running, pair.Local.Config, pair.Local.Client.Scheme(), w.link, members, log, errs); err != nil {
			return err
		}
	}

	b := &bench{ways: ways, gateways: gws, mirrors: watched, seen: seen, membersURL: membersURL, local: pair.Local, errs: errs, log: stderr}
	for i := range *trials {
		if err := b.trial(ctx, i+1); err != nil {
			return fmt.Errorf("trial %d: %w", i+1, err)
		}
	}
	return b.printTable(stdout, *trials)
}

// bench is what the trials share, and what they found.
type bench struct {
	ways       []*way
	gateways   *gatewayProcs
	mirrors    *mirrors
	seen       *deadSeen
	membersURL string
	local      *testenv.Cluster
	errs       <-chan error
	log        io.Writer

	// With gossip, per trial: kill to west's gateway holding east Dead, then to the link
	// controller's read saying so, then to the mirror's slice saying ready: false.
	pool, read, slice []time.Duration
	// rss is the killed gateway's, just before the last kill.
	rss uint64
}

// trial waits until both mirrors are ready, kills east's gateway, times both ways until their
// mirror is not ready, and starts east's gateway again.
func (b *bench) trial(ctx context.Context, n int) error {
	started := time.Now()
	// East's gateway is (back) in the pool and answers its probe: both mirrors are ready.
	for _, w := range b.ways {
		if _, err := b.mirrors.await(ctx, b.errs, w.link, true, time.Time{}, time.Minute); err != nil {
			return withLinkStatus(ctx, b.local, w.link, fmt.Errorf("%s: %w", w.name, err))
		}
	}
	mem, err := b.gateways.procs[victim].Memory()
	if err != nil {
		return err
	}
	b.rss = mem.RSS
	// A crash comes at no particular point of the probe's period.
	select {
	case <-time.After(rand.N(probePeriod)):
	case <-ctx.Done():
		return ctx.Err()
	}
	b.seen.arm()
	killed := time.Now()
	if err := b.gateways.procs[victim].Kill(); err != nil {
		return err
	}
	line := fmt.Sprintf("trial %d:", n)
	var gossip time.Duration
	for _, w := range b.ways {
		at, err := b.mirrors.await(ctx, b.errs, w.link, false, killed, probePeriod*(probeFailures+2))
		if err != nil {
			return withLinkStatus(ctx, b.local, w.link, fmt.Errorf("%s: %w", w.name, err))
		}
		w.times = append(w.times, at.Sub(killed))
		if w.gossip {
			gossip = at.Sub(killed)
		}
		line += fmt.Sprintf(" %s %s,", w.name, benchstat.Millis(at.Sub(killed)))
	}
	deadAt, err := deadSince(ctx, b.membersURL, victim)
	if err != nil {
		return err
	}
	readAt, ok := b.seen.first()
	if !ok {
		return errors.New("the mirror went not ready, but the link controller never read east dead from the pool")
	}
	pool, read := deadAt.Sub(killed), readAt.Sub(deadAt)
	b.pool, b.read, b.slice = append(b.pool, pool), append(b.read, read), append(b.slice, gossip-pool-read)
	fmt.Fprintf(b.log, "%s west's gateway held it Dead after %s (the trial took %s)\n", line, benchstat.Millis(pool), time.Since(started).Round(100*time.Millisecond))
	return b.gateways.start(ctx, victim)
}

func (b *bench) printTable(stdout io.Writer, trials int) error {
	ways := b.ways
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	// A line with no tab ends a block of aligned columns: each section aligns on its own.
	fmt.Fprintf(w, "kill -9 of east's gateway -> its mirror's endpoints ready: false in west, %d trials\n", trials)
	fmt.Fprintf(w, "\t%s\t%s: %s period, %d failures\n", ways[0].name, ways[1].name, probePeriod, probeFailures)
	for _, p := range []int{50, 99, 100} {
		name := fmt.Sprintf("p%d", p)
		if p == 100 {
			name = "max"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", name, benchstat.Millis(benchstat.Percentile(ways[0].times, p)), benchstat.Millis(benchstat.Percentile(ways[1].times, p)))
	}
	verdict := "met"
	if benchstat.Percentile(ways[0].times, 100) >= goalGossip {
		verdict = "MISSED"
	}
	fmt.Fprintf(w, "goal\t< %s at max: %s\t(about 9 s)\n", goalGossip, verdict)
	fmt.Fprintln(w, "with gossip, where the time went (each step's own p50 and max):")
	for _, s := range []struct {
		name string
		d    []time.Duration
	}{
		{"kill -> west's gateway holds east Dead", b.pool},
		{"-> the link controller's read of /members says so", b.read},
		{"-> the mirror's EndpointSlice says ready: false", b.slice},
	} {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", s.name, benchstat.Millis(benchstat.Percentile(s.d, 50)), benchstat.Millis(benchstat.Percentile(s.d, 100)))
	}
	t := membership.DefaultTiming()
	fmt.Fprintf(w, "timing: the gossip pool probes every %s (timeout %s), suspicion %d rounds (at most x%d without confirmations), gossip every %s\n",
		t.ProbeInterval, t.ProbeTimeout, t.SuspicionMult, t.SuspicionMaxTimeoutMult, t.GossipInterval)
	fmt.Fprintf(w, "timing: the link controller reads /members every %s; the Links' probe every %s, dead after %d failures\n", mirror.DefaultGatewayMembersEvery, probePeriod, probeFailures)
	fmt.Fprintf(w, "the killed gateway's process (pkg/gateway and its member), last trial: RSS %.1f MiB\n", float64(b.rss)/(1<<20))
	return w.Flush()
}

// writePKI writes one anchor and, under it, an issuer for each cluster, as `mesh trust`
// makes them; each gateway signs its own leaf with its cluster's at start.
func writePKI(dir string) error {
	now := time.Now()
	anchor, err := trust.NewAnchor("bench/liveness anchor", 24*time.Hour, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "anchor.pem"), anchor.CertPEM(), 0o600); err != nil {
		return err
	}
	for _, g := range gateways {
		iss, err := trust.NewIssuer(anchor, trust.IssuerCommonName(g.cluster), 12*time.Hour, now.Add(-time.Hour))
		if err != nil {
			return err
		}
		key, err := iss.KeyPEM()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, g.cluster+"-issuer.pem"), iss.CertPEM(), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, g.cluster+"-issuer.key"), key, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// gatewayProcs are the gateways' processes, by cluster.
type gatewayProcs struct {
	self, pki string
	procs     map[string]*loadtest.Process
}

var readyLine = regexp.MustCompile(`^ready$`)

// start runs cluster's gateway, joined to the others already running, and waits until it
// serves.
func (g *gatewayProcs) start(ctx context.Context, cluster string) error {
	args := []string{gatewayCommand, "-cluster", cluster, "-ip", gatewayIP(cluster).String(), "-pki", g.pki}
	for _, o := range gateways {
		if _, up := g.procs[o.cluster]; up && o.cluster != cluster {
			args = append(args, "-join", netip.AddrPortFrom(o.ip, membership.DefaultPort).String())
		}
	}
	p, err := loadtest.StartProcess(ctx, cluster+"'s gateway", nil, g.self, args...)
	if err != nil {
		return err
	}
	g.procs[cluster] = p
	_, err = p.Await(readyLine, 1, 20*time.Second)
	return err
}

func (g *gatewayProcs) stopAll() {
	for _, p := range g.procs {
		p.Stop()
	}
}

// setUpAPI makes what both ways mirror: in east, a Service exported through the gateway;
// in west, its namespace, and for each way a Link to east (with Linkerd's probe defaults)
// and the Link's credentials, in a namespace of the way's own.
func setUpAPI(ctx context.Context, pair *testenv.Pair, ways []*way) error {
	namespaces := map[*testenv.Cluster][]string{pair.Remote: {"shop"}, pair.Local: {"shop"}}
	for _, w := range ways {
		namespaces[pair.Local] = append(namespaces[pair.Local], w.link.Namespace)
	}
	for c, names := range namespaces {
		for _, ns := range names {
			if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return fmt.Errorf("namespace %s: %w", ns, err)
			}
		}
	}
	if err := pair.Remote.Client.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{mcv1alpha1.LabelExported: mcv1alpha1.ExportedGateway}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}); err != nil {
		return fmt.Errorf("the exported Service: %w", err)
	}
	for _, w := range ways {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "cluster-credentials-east", Namespace: w.link.Namespace},
			Data:       map[string][]byte{mcv1alpha1.CredentialsKey: pair.ReaderKubeconfig},
		}
		if err := pair.Local.Client.Create(ctx, secret); err != nil {
			return fmt.Errorf("the credentials of %s: %w", w.link, err)
		}
		if err := pair.Local.Client.Create(ctx, &mcv1alpha1.Link{
			ObjectMeta: metav1.ObjectMeta{Name: w.link.Name, Namespace: w.link.Namespace},
			Spec: mcv1alpha1.LinkSpec{
				TargetClusterName: w.cluster,
				CredentialsSecret: secret.Name,
				GatewayAddresses:  []string{linkedAddr.String()},
				GatewayPort:       gateway.Port,
				GatewayIdentity:   gatewayID(victim).String(),
				Probe: &mcv1alpha1.ProbeSpec{Path: "/ready", Port: proxy.AdminPort,
					Period: metav1.Duration{Duration: probePeriod}, FailureThreshold: probeFailures},
			},
		}); err != nil {
			return fmt.Errorf("the Link %s: %w", w.link, err)
		}
	}
	return nil
}

// startController runs a link controller for link in this process, as cmd/link does, but for
// its cache: two controllers share west's apiserver here, so each caches only its own Link's
// mirrors (a controller alone holds no others). members, when set, reads the gossip pool.
// The manager stops with ctx, then running is done; a failure to run is sent to errs.
func startController(ctx context.Context, running *sync.WaitGroup, cfg *rest.Config, scheme *runtime.Scheme, link types.NamespacedName, members func(context.Context) ([]mirror.GatewayMember, error), log *slog.Logger, errs chan<- error) error {
	opts := mirror.CacheOptions(link.Namespace)
	own := labels.SelectorFromSet(labels.Set{mcv1alpha1.LabelMirroredService: "true", mcv1alpha1.LabelLink: link.Namespace + "." + link.Name})
	for obj, by := range opts.ByObject {
		switch obj.(type) {
		case *corev1.Service, *discoveryv1.EndpointSlice:
			by.Label = own
			opts.ByObject[obj] = by
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  opts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Both managers run controllers of the same names, which would report the same
		// metrics: these are not read here.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	if err := mirror.Setup(mgr, log.With("link", link.String()), mirror.Options{GatewayMembers: members, DialGateway: dialGateway}); err != nil {
		return err
	}
	running.Add(1)
	go func() {
		defer running.Done()
		if err := mgr.Start(ctx); err != nil {
			errs <- fmt.Errorf("the link controller of %s: %w", link, err)
		}
	}()
	return nil
}

// deadSeen notes when the link controller's read of the pool first said east's gateway dead
// after it was armed: when the controller learnt it.
type deadSeen struct {
	mu    sync.Mutex
	armed bool
	at    time.Time
}

func (d *deadSeen) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed, d.at = true, time.Time{}
}

func (d *deadSeen) first() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at, !d.at.IsZero()
}

// wrap returns fetch, noting its first answer that holds east dead (known to the pool and no
// gateway of it alive or suspect, as the link controller judges).
func (d *deadSeen) wrap(fetch func(context.Context) ([]mirror.GatewayMember, error)) func(context.Context) ([]mirror.GatewayMember, error) {
	return func(ctx context.Context) ([]mirror.GatewayMember, error) {
		members, err := fetch(ctx)
		if err != nil {
			return members, err
		}
		now := time.Now()
		known, alive := false, false
		for _, m := range members {
			if m.Cluster == victim {
				known = true
				alive = alive || m.State == membership.Alive.String() || m.State == membership.Suspect.String()
			}
		}
		d.mu.Lock()
		if d.armed && known && !alive {
			d.armed, d.at = false, now
		}
		d.mu.Unlock()
		return members, err
	}
}

// deadSince asks west's gateway since when it holds cluster's gateway Dead.
func deadSince(ctx context.Context, url, cluster string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	var members []membership.MemberJSON
	if err := json.NewDecoder(resp.Body).Decode(&members); err != nil {
		return time.Time{}, fmt.Errorf("GET %s: %w", url, err)
	}
	for _, m := range members {
		if m.Cluster == cluster && m.State == membership.Dead.String() {
			return m.Since, nil
		}
	}
	return time.Time{}, fmt.Errorf("west's gateway does not hold %s's Dead: %+v", cluster, members)
}

// mirrors is what a watch of west's mirror EndpointSlices last said of each Link's mirror:
// whether its endpoints are ready, and since when.
type mirrors struct {
	mu      sync.Mutex
	byLink  map[string]mirrorState
	changed chan struct{} // closed, and replaced, on every change
}

type mirrorState struct {
	ready bool
	since time.Time
}

// watchMirrors watches west's mirror EndpointSlices (a list, then a watch from it, by an
// informer) and keeps mirrors up to date with every event as it arrives.
func watchMirrors(ctx context.Context, cfg *rest.Config) (*mirrors, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	m := &mirrors{byLink: map[string]mirrorState{}, changed: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = mcv1alpha1.LabelMirroredService + "=true"
	}))
	inf := factory.Discovery().V1().EndpointSlices().Informer()
	saw := func(obj any) {
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
			m.saw(s, time.Now())
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: saw, UpdateFunc: func(_, obj any) { saw(obj) }}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("watching west's %v: %w", typ, ctx.Err())
		}
	}
	return m, nil
}

// saw takes one event of a mirror's slice: its endpoints are ready when all are, not ready
// when none is.
func (m *mirrors) saw(s *discoveryv1.EndpointSlice, at time.Time) {
	if len(s.Endpoints) == 0 {
		return
	}
	ready := 0
	for _, ep := range s.Endpoints {
		if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
			ready++
		}
	}
	if ready != 0 && ready != len(s.Endpoints) {
		return
	}
	link := s.Labels[mcv1alpha1.LabelLink]
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.byLink[link]; ok && cur.ready == (ready > 0) {
		return
	}
	m.byLink[link] = mirrorState{ready: ready > 0, since: at}
	close(m.changed)
	m.changed = make(chan struct{})
}

// await waits until link's mirror is ready (or not) since after, and says since when; it
// fails after timeout, or when a link controller fails.
func (m *mirrors) await(ctx context.Context, errs <-chan error, link types.NamespacedName, ready bool, after time.Time, timeout time.Duration) (time.Time, error) {
	key := link.Namespace + "." + link.Name
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		cur, ok := m.byLink[key]
		changed := m.changed
		m.mu.Unlock()
		if ok && cur.ready == ready && !cur.since.Before(after) {
			return cur.since, nil
		}
		select {
		case <-changed:
		case err := <-errs:
			return time.Time{}, err
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("the mirror's endpoints were not ready=%v within %s (last seen: %+v, known: %v)", ready, timeout, cur, ok)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// withLinkStatus adds what the Link says to a failure.
func withLinkStatus(ctx context.Context, local *testenv.Cluster, key types.NamespacedName, err error) error {
	var link mcv1alpha1.Link
	if gerr := local.Client.Get(ctx, key, &link); gerr != nil {
		return err
	}
	for _, c := range link.Status.Conditions {
		err = fmt.Errorf("%w\n  Link %s %s=%s %s: %s", err, key, c.Type, c.Status, c.Reason, c.Message)
	}
	return err
}
