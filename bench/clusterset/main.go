// Command clusterset measures the Multi-Cluster Services API (KEP-1645) as meshfed serves it,
// from a ServiceExport in one cluster to a name that resolves in another. The parts are real,
// as bench/mirror has them: two apiservers with their etcds (envtest on the kube-apiserver
// this repo builds and Debian's etcd), west and east, linked both ways, each with its link
// controller (cmd/link, whose clusterset controller writes the ServiceImports) running as a
// process of its own, as in a cluster; and west's clusterset DNS, pkg/dnsplugin's CoreDNS
// plugin set up from a Corefile and served by CoreDNS's own server in this process, on a UDP
// port of 127.0.0.1, its informers reading west's apiserver.
//
//   - export -> import: a ServiceExport of an existing ClusterIP Service created in east, until
//     a watch of west has seen the ServiceImport with its ClusterSetIP and DNS answers
//     <svc>.<ns>.svc.clusterset.local with that IP; p50, p99 and max over 100 single exports,
//     beside the floor: a write in east seen by a watch of east, then one in west seen by a
//     watch of west, the least two linked apiservers allow;
//
//   - 1,000 ServiceExports created at once, until all are imported and answered, how long
//     creating them took, the CPU each process spent meanwhile and the controllers' RSS,
//     beside the floor: the writes of 1,000 imports made by the bench itself, in both
//     clusters at once as the controllers make them, the most the apiservers allow on this
//     machine.
//
//     go run ./bench/clusterset [-singles 100] [-bulk 1000] [-logs DIR]
//
// It talks to loopback only, and every process it starts (apiservers, etcds, controllers)
// dies with it, Ctrl-C included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshfed/meshfed/bench/internal/linkctl"
	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/benchstat"
	"github.com/meshfed/meshfed/internal/testenv"
	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// The goals.
const (
	goalSingleP99 = time.Second
	goalBulk      = 10 * time.Second
)

// config is what a run measures.
type config struct {
	// singles is how many exports are timed one after the other; bulk how many at once.
	singles, bulk int
	// logs, if set, is a folder the controllers' logs are copied to at the end.
	logs string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.singles, "singles", 100, "single exports timed one after the other")
	flag.IntVar(&cfg.bulk, "bulk", 1000, "ServiceExports created at once")
	flag.StringVar(&cfg.logs, "logs", "", "a folder to copy the link controllers' logs to at the end (west-link.log, east-link.log)")
	flag.Parse()
	// Interrupted or not, the apiservers, their etcds, the controllers and DNS are stopped on
	// the way out: run's deferred stops run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Namespaces of the exports.
const (
	singleNamespace = "single"
	bulkNamespace   = "bulk"
)

// env is the running federation of two and what the bench reads it with.
type env struct {
	west, east *testenv.Cluster
	// Clients of each, as an admin.
	westKube, eastKube kubernetes.Interface
	westMCS, eastMCS   mcsclient.Interface
	westCtl, eastCtl   *linkctl.Controller
	dns                resolver
	imports            *imports
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	// envtest logs through controller-runtime's logger, which complains with a stack trace
	// unless one is set; the bench prints its table and errors only.
	ctrllog.SetLogger(logr.Discard())
	// Local is west, where the imports are measured; Remote is east, which exports.
	pair, err := linkctl.StartPair(ctx)
	if err != nil {
		return err
	}
	defer pair.Stop()
	// The watches end before the apiservers stop: an apiserver's shutdown waits for them.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e := &env{west: pair.Local, east: pair.Remote}
	if e.westKube, err = kubernetes.NewForConfig(e.west.Config); err != nil {
		return err
	}
	if e.eastKube, err = kubernetes.NewForConfig(e.east.Config); err != nil {
		return err
	}
	if e.westMCS, err = mcsclient.NewForConfig(e.west.Config); err != nil {
		return err
	}
	if e.eastMCS, err = mcsclient.NewForConfig(e.east.Config); err != nil {
		return err
	}
	if err := e.link(ctx, pair.ReaderKubeconfig); err != nil {
		return err
	}
	if e.westCtl, err = linkctl.Start(ctx, e.west, "west"); err != nil {
		return err
	}
	defer e.westCtl.Stop()
	if e.eastCtl, err = linkctl.Start(ctx, e.east, "east"); err != nil {
		return err
	}
	defer e.eastCtl.Stop()
	if cfg.logs != "" {
		// Deferred after the controllers' Stop, so run before it: the logs are still there.
		defer func() {
			for name, c := range map[string]*linkctl.Controller{"west": e.westCtl, "east": e.eastCtl} {
				if err := copyFile(c.LogPath(), filepath.Join(cfg.logs, name+"-link.log")); err != nil {
					fmt.Fprintln(os.Stderr, "bench: keeping the logs:", err)
				}
			}
		}()
	}

	tmp, err := os.MkdirTemp("", "bench-clusterset-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The clusters' CoreDNS may only list and watch; an admin here reads the same objects.
	kubeconfig, err := e.west.Kubeconfig(envtest.User{Name: "coredns", Groups: []string{"system:masters"}})
	if err != nil {
		return err
	}
	path := filepath.Join(tmp, "coredns.kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return err
	}
	dns, addr, err := startDNS(path)
	if err != nil {
		return err
	}
	defer stopDNS(dns)
	e.dns = newResolver(addr)
	if e.imports, err = watchImports(ctx, e.westMCS); err != nil {
		return err
	}

	floor, err := watchFloor(ctx, e.eastKube, e.westKube, cfg.singles)
	if err != nil {
		return fmt.Errorf("the floor: %w", err)
	}
	// One export first, not counted: the first of a namespace waits for caches to start.
	if _, err := e.singleExports(ctx, "warmup", 1); err != nil {
		return e.withStatus(ctx, fmt.Errorf("the warm-up export: %w", err))
	}
	singles, err := e.singleExports(ctx, "one", cfg.singles)
	if err != nil {
		return e.withStatus(ctx, fmt.Errorf("single exports: %w", err))
	}
	bulk, err := e.bulkExport(ctx, cfg.bulk)
	if err != nil {
		return e.withStatus(ctx, fmt.Errorf("%d exports at once: %w", cfg.bulk, err))
	}
	if bulk.floor, err = writeFloor(ctx, e, cfg.bulk); err != nil {
		return fmt.Errorf("the floor of the bulk: %w", err)
	}
	return printTable(out, cfg, floor, singles, bulk)
}

// link makes both clusters' namespaces and names, and links each to the other, as `mesh
// install` and `mesh multicluster link` would: reader reaches east as its remote reader.
func (e *env) link(ctx context.Context, eastReader []byte) error {
	if err := testenv.SetUpReader(ctx, e.west.Client, "reader"); err != nil {
		return fmt.Errorf("west's remote reader: %w", err)
	}
	westReader, err := e.west.Kubeconfig(envtest.User{Name: "reader"})
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name    string
		cluster *testenv.Cluster
		kube    kubernetes.Interface
	}{{"west", e.west, e.westKube}, {"east", e.east, e.eastKube}} {
		for _, ns := range []string{linkctl.Namespace, singleNamespace, bulkNamespace, floorNamespace} {
			if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("namespace %s in %s: %w", ns, c.name, err)
			}
		}
		if err := c.cluster.Client.Create(ctx, &aboutv1alpha1.ClusterProperty{
			ObjectMeta: metav1.ObjectMeta{Name: aboutv1alpha1.ClusterIDProperty},
			Spec:       aboutv1alpha1.ClusterPropertySpec{Value: c.name},
		}); err != nil {
			return fmt.Errorf("%s's ClusterProperty: %w", c.name, err)
		}
		// The range of ClusterSetIPs, as `mesh multicluster install` makes it: both clusters
		// import, east its own export too.
		if err := c.cluster.Client.Create(ctx, &networkingv1.ServiceCIDR{
			ObjectMeta: metav1.ObjectMeta{Name: mcv1alpha1.ClusterSetIPRangeName, Labels: map[string]string{mcv1alpha1.LabelClusterSetIPRange: "true"}},
			Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{deploy.DefaultClusterSetIPRange}},
		}); err != nil {
			return fmt.Errorf("%s's range of ClusterSetIPs: %w", c.name, err)
		}
	}
	if err := linkctl.CreateLink(ctx, e.west, "east", eastReader, "198.18.0.250"); err != nil {
		return err
	}
	return linkctl.CreateLink(ctx, e.east, "west", westReader, "198.18.0.251")
}

// withStatus adds to a failure what west's Link to east says.
func (e *env) withStatus(ctx context.Context, err error) error {
	return linkctl.WithLinkStatus(ctx, e.west, "east", err)
}

// service is a ClusterIP Service of east, not exported until its ServiceExport comes.
func service(name, ns string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
}

func export(name, ns string) *mcsv1alpha1.ServiceExport {
	return &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
}

// createServices makes n Services in east's namespace ns, named prefix-0000..., 32 at once,
// and returns their names.
func (e *env) createServices(ctx context.Context, ns, prefix string, n int) ([]string, error) {
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return names, atOnce(ctx, names, func(ctx context.Context, name string) error {
		_, err := e.eastKube.CoreV1().Services(ns).Create(ctx, service(name, ns), metav1.CreateOptions{})
		return err
	})
}

// atOnce calls f for every name, 32 at a time (as bench/mirror creates), and returns the
// first error.
func atOnce(ctx context.Context, names []string, f func(context.Context, string) error) error {
	return atOnceN(ctx, 32, names, f)
}

// atOnceN calls f for every name, width at a time, and returns the first error.
func atOnceN(ctx context.Context, width int, names []string, f func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(names))
	sem := make(chan struct{}, width)
	for _, name := range names {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if err := f(ctx, name); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range names {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// single is one export's times, from the ServiceExport's creation.
type single struct{ imported, answered time.Duration }

// singleExports exports n Services of east one after the other, each once the last is
// imported and answered, and times each.
func (e *env) singleExports(ctx context.Context, prefix string, n int) ([]single, error) {
	names, err := e.createServices(ctx, singleNamespace, prefix, n)
	if err != nil {
		return nil, err
	}
	var out []single
	for _, name := range names {
		start := time.Now()
		if _, err := e.eastMCS.MulticlusterV1alpha1().ServiceExports(singleNamespace).Create(ctx, export(name, singleNamespace), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("exporting %s: %w", name, err)
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got, err := e.imports.await(actx, e.dns, []string{singleNamespace + "/" + name})
		cancel()
		if err != nil {
			return nil, err
		}
		a := got[singleNamespace+"/"+name]
		out = append(out, single{imported: a.imported.Sub(start), answered: a.answered.Sub(start)})
	}
	return out, nil
}

// bulkRun is how long, from the first ServiceExport of a bulk: until all were created in
// east, until all were imported in west, until all were answered in DNS; and what the
// processes spent meanwhile.
type bulkRun struct {
	created, imported, answered time.Duration
	// first is when the first export was imported and answered.
	first time.Duration
	// floor is how long the same writes took the bench alone (writeFloor).
	floor            time.Duration
	cpu              cpuSpent
	westRSS, eastRSS uint64
}

// bulkExport makes n Services in east (not timed), then exports all at once and times them.
func (e *env) bulkExport(ctx context.Context, n int) (bulkRun, error) {
	names, err := e.createServices(ctx, bulkNamespace, "many", n)
	if err != nil {
		return bulkRun{}, err
	}
	keys := make([]string, n)
	for i, name := range names {
		keys[i] = bulkNamespace + "/" + name
	}
	before, err := e.readCPU()
	if err != nil {
		return bulkRun{}, err
	}
	// Awaited while they are made, so that DNS is asked about the first imports as they come.
	// Far beyond the goal: on a busy machine the bulk still says how long it took.
	actx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	type awaited struct {
		got map[string]arrival
		err error
	}
	done := make(chan awaited, 1)
	start := time.Now()
	go func() {
		got, err := e.imports.await(actx, e.dns, keys)
		done <- awaited{got, err}
	}()
	if err := atOnce(ctx, names, func(ctx context.Context, name string) error {
		_, err := e.eastMCS.MulticlusterV1alpha1().ServiceExports(bulkNamespace).Create(ctx, export(name, bulkNamespace), metav1.CreateOptions{})
		return err
	}); err != nil {
		cancel()
		<-done
		return bulkRun{}, fmt.Errorf("exporting: %w", err)
	}
	run := bulkRun{created: time.Since(start)}
	a := <-done
	if a.err != nil {
		return bulkRun{}, a.err
	}
	got := a.got
	after, err := e.readCPU()
	if err != nil {
		return bulkRun{}, err
	}
	run.cpu = after.minus(before)
	run.first = time.Duration(1<<63 - 1)
	for _, a := range got {
		run.first = min(run.first, a.answered.Sub(start))
		run.imported = max(run.imported, a.imported.Sub(start))
		run.answered = max(run.answered, a.answered.Sub(start))
	}
	if run.westRSS, err = benchstat.RSS(e.westCtl.Pid()); err != nil {
		return bulkRun{}, err
	}
	if run.eastRSS, err = benchstat.RSS(e.eastCtl.Pid()); err != nil {
		return bulkRun{}, err
	}
	return run, nil
}

// cpuSpent is the CPU time of the processes a bulk keeps busy: on a small machine they share
// its cores, and the apiservers, not the controllers, may bound the bulk.
type cpuSpent struct {
	westCtl, eastCtl, apiservers, etcds, self time.Duration
}

func (e *env) readCPU() (cpuSpent, error) {
	var c cpuSpent
	children, err := benchstat.ChildrenCPU()
	if err != nil {
		return c, err
	}
	c.apiservers, c.etcds = children["kube-apiserver"], children["etcd"]
	var errs [3]error
	c.westCtl, errs[0] = benchstat.CPU(e.westCtl.Pid())
	c.eastCtl, errs[1] = benchstat.CPU(e.eastCtl.Pid())
	c.self, errs[2] = benchstat.CPU(os.Getpid())
	return c, errors.Join(errs[:]...)
}

func (c cpuSpent) minus(o cpuSpent) cpuSpent {
	return cpuSpent{c.westCtl - o.westCtl, c.eastCtl - o.eastCtl, c.apiservers - o.apiservers, c.etcds - o.etcds, c.self - o.self}
}

func printTable(out io.Writer, cfg config, floor []time.Duration, singles []single, bulk bulkRun) error {
	imported, answered := make([]time.Duration, len(singles)), make([]time.Duration, len(singles))
	for i, s := range singles {
		imported[i], answered[i] = s.imported, s.answered
	}
	p99 := benchstat.Percentile(answered, 99)
	ms, pct := benchstat.Millis, benchstat.Percentile
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "measure\tmeshfed: link controllers, clusterset DNS\tbaseline: plain watches, east then west\tgoal")
	fmt.Fprintf(w, "export -> ServiceImport with ClusterSetIP in west, p50 (%d single exports)\t%s\t\t\n", cfg.singles, ms(pct(imported, 50)))
	fmt.Fprintf(w, "export -> imported and answered in DNS, p50\t%s\t%s\t\n", ms(pct(answered, 50)), ms(pct(floor, 50)))
	fmt.Fprintf(w, "export -> imported and answered in DNS, p99\t%s\t%s\t%s %s\n", ms(p99), ms(pct(floor, 99)), below(goalSingleP99), mark(p99 < goalSingleP99))
	fmt.Fprintf(w, "export -> imported and answered in DNS, max\t%s\t%s\t\n", ms(pct(answered, 100)), ms(pct(floor, 100)))
	fmt.Fprintf(w, "%d exported at once, until all imported and answered\t%s\t%s (creating the exports)\t%s %s\n",
		cfg.bulk, bulk.answered.Round(time.Millisecond), bulk.created.Round(time.Millisecond), below(goalBulk), mark(bulk.answered < goalBulk))
	fmt.Fprintf(w, "  the first imported and answered\t%s\t\t\n", bulk.first.Round(time.Millisecond))
	fmt.Fprintf(w, "  until all ServiceImports had their ClusterSetIP\t%s\t\t\n", bulk.imported.Round(time.Millisecond))
	fmt.Fprintf(w, "  of which after the last export was created\t%s\t\t\n", (bulk.answered - bulk.created).Round(time.Millisecond))
	fmt.Fprintf(w, "  CPU spent meanwhile\tcontrollers: west %s, east %s\tapiservers %s, etcds %s, this process (DNS, watches, clients) %s\t\n",
		secs(bulk.cpu.westCtl), secs(bulk.cpu.eastCtl), secs(bulk.cpu.apiservers), secs(bulk.cpu.etcds), secs(bulk.cpu.self))
	fmt.Fprintf(w, "  floor: the imports' writes alone, by the bench\t\t%s (%d imports in each cluster, %d writes at once in each)\t\n", bulk.floor.Round(time.Millisecond), cfg.bulk, floorWorkers)
	fmt.Fprintf(w, "controllers' RSS with %d exports\twest %d MiB, east %d MiB\t\t\n", cfg.bulk+cfg.singles+1, bulk.westRSS>>20, bulk.eastRSS>>20)
	return w.Flush()
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// below writes a goal as bench/mirror's table does: "< 1 s".
func below(goal time.Duration) string { return fmt.Sprintf("< %g s", goal.Seconds()) }

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
