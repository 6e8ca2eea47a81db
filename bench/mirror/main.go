// Command mirror measures the link controller against two real apiservers (envtest on the
// kube-apiserver this repo builds and Debian's etcd), with the controller running as its own
// process, as in a cluster:
//
//   - export to mirror ready in the other cluster, p50 and p99 over 100 single exports, beside
//     the floor: how long the same apiserver takes to tell a plain watch of the change;
//
//   - 1,000 Services exported at once, time until all are mirrored, beside the floor: how long
//     the local apiserver takes when the bench itself writes what those mirrors are (a Service
//     and an EndpointSlice each), and the CPU each process spent;
//
//   - the controller's RSS holding 1,000 mirrors.
//
//     go run ./bench/mirror [-singles 100] [-bulk 1000]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/meshfed/meshfed/bench/internal/linkctl"
	"github.com/meshfed/meshfed/internal/benchstat"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func main() {
	singles := flag.Int("singles", 100, "single exports timed one after the other")
	bulk := flag.Int("bulk", 1000, "Services exported at once")
	flag.Parse()
	if err := run(*singles, *bulk); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(singles, bulk int) error {
	// Interrupted or not, the apiservers, their etcds and the controller are stopped on the
	// way out: the deferred stops below run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	pair, err := linkctl.StartPair(ctx)
	if err != nil {
		return err
	}
	defer pair.Stop()
	local, err := kubernetes.NewForConfig(pair.Local.Config)
	if err != nil {
		return err
	}
	remote, err := kubernetes.NewForConfig(pair.Remote.Config)
	if err != nil {
		return err
	}

	for _, ns := range []string{"mesh-multicluster", "single", "bulk", "floor"} {
		for _, cs := range []kubernetes.Interface{local, remote} {
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				return err
			}
		}
	}
	if err := linkctl.CreateLink(ctx, pair.Local, "east", pair.ReaderKubeconfig, "198.18.0.250"); err != nil {
		return err
	}
	controller, err := linkctl.Start(ctx, pair.Local, "mirror")
	if err != nil {
		return err
	}
	defer controller.Stop()

	floor, err := watchFloor(ctx, remote, singles)
	if err != nil {
		return err
	}
	mirrors, err := watchMirrors(ctx, local)
	if err != nil {
		return err
	}
	// One export first, not counted: the first of a namespace waits for caches to start.
	if _, err := singleExports(ctx, remote, mirrors, "warmup", 1); err != nil {
		return linkctl.WithLinkStatus(ctx, pair.Local, "east", err)
	}
	single, err := singleExports(ctx, remote, mirrors, "one", singles)
	if err != nil {
		return linkctl.WithLinkStatus(ctx, pair.Local, "east", err)
	}
	cpuBefore, err := benchstat.ChildrenCPU()
	if err != nil {
		return err
	}
	bulkRun, err := bulkExport(ctx, remote, mirrors, bulk)
	if err != nil {
		return linkctl.WithLinkStatus(ctx, pair.Local, "east", err)
	}
	cpuAfter, err := benchstat.ChildrenCPU()
	if err != nil {
		return err
	}
	rss, err := benchstat.RSS(controller.Pid())
	if err != nil {
		return err
	}
	floorBulk, err := writeFloor(ctx, local, bulk)
	if err != nil {
		return err
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "measure\tmeshfed link controller\tbaseline: a plain watch of the remote\tgoal")
	fmt.Fprintf(w, "export -> mirror ready, p50 (%d single exports)\t%s\t%s\t\n", singles, benchstat.Millis(benchstat.Percentile(single, 50)), benchstat.Millis(benchstat.Percentile(floor, 50)))
	fmt.Fprintf(w, "export -> mirror ready, p99\t%s\t%s\t< 500 ms\n", benchstat.Millis(benchstat.Percentile(single, 99)), benchstat.Millis(benchstat.Percentile(floor, 99)))
	fmt.Fprintf(w, "%d exported at once, until all mirrored\t%s\t%s (creating them)\t< 5 s\n", bulk, bulkRun.mirrored.Round(time.Millisecond), bulkRun.created.Round(time.Millisecond))
	fmt.Fprintf(w, "  of which after the last was created\t%s\t\t\n", (bulkRun.mirrored - bulkRun.created).Round(time.Millisecond))
	// On a small machine the apiservers, not the controller, bound the bulk: the CPU each
	// process spent in it says so.
	fmt.Fprintf(w, "  CPU spent meanwhile (both clusters)\tcontroller %s\tapiservers %s, etcds %s\t\n",
		cpuSpent(cpuBefore, cpuAfter, "link"), cpuSpent(cpuBefore, cpuAfter, "kube-apiserver"), cpuSpent(cpuBefore, cpuAfter, "etcd"))
	fmt.Fprintf(w, "  floor: the mirrors' writes alone, by the bench\t\t%s (%d Services and EndpointSlices, %d at once)\t\n", floorBulk.Round(time.Millisecond), bulk, floorWorkers)
	fmt.Fprintf(w, "controller RSS with %d mirrors\t%d MiB\t\t< 60 MiB\n", bulk+singles, rss>>20)
	return w.Flush()
}

// watchFloor times how long the remote apiserver takes to tell a watch of a new Service: the
// least any mirror can take.
func watchFloor(ctx context.Context, remote kubernetes.Interface, n int) ([]time.Duration, error) {
	added := make(chan string, 16)
	factory := informers.NewSharedInformerFactoryWithOptions(remote, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Services().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if s, ok := obj.(*corev1.Service); ok {
			added <- s.Name
		}
	}}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	for len(added) > 0 {
		<-added // the kubernetes Service, already there
	}
	var out []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("floor-%d", i)
		start := time.Now()
		if _, err := remote.CoreV1().Services("default").Create(ctx, service(name, "default", false), metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		for got := ""; got != name; {
			select {
			case got = <-added:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// mirrorArrivals records when each mirror's EndpointSlice first appears locally.
type mirrorArrivals struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	notify  chan struct{}
}

func watchMirrors(ctx context.Context, local kubernetes.Interface) (*mirrorArrivals, error) {
	m := &mirrorArrivals{arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)}
	// A list, then a watch from its resourceVersion, again after any error: a watch from "now"
	// on a type with no recent events can be refused while the apiserver's cache catches up.
	factory := informers.NewSharedInformerFactoryWithOptions(local, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = mcv1alpha1.LabelClusterName + "=east"
	}))
	inf := factory.Discovery().V1().EndpointSlices().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		m.mu.Lock()
		name := s.Namespace + "/" + s.Labels[mcv1alpha1.LabelRemoteName]
		if _, seen := m.arrived[name]; !seen {
			m.arrived[name] = time.Now()
		}
		m.mu.Unlock()
		select {
		case m.notify <- struct{}{}:
		default:
		}
	}}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return m, nil
}

// await waits until every name has arrived, and returns when the last did.
func (m *mirrorArrivals) await(ctx context.Context, names []string) (time.Time, error) {
	for {
		m.mu.Lock()
		var last time.Time
		missing := 0
		for _, n := range names {
			t, ok := m.arrived[n]
			if !ok {
				missing++
			} else if t.After(last) {
				last = t
			}
		}
		m.mu.Unlock()
		if missing == 0 {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d mirrors still missing: %w", missing, len(names), ctx.Err())
		case <-m.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func singleExports(ctx context.Context, remote kubernetes.Interface, m *mirrorArrivals, prefix string, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		if _, err := remote.CoreV1().Services("single").Create(ctx, service(name, "single", true), metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		at, err := m.await(actx, []string{"single/" + name})
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, at.Sub(start))
	}
	return out, nil
}

func cpuSpent(before, after map[string]time.Duration, name string) string {
	return fmt.Sprintf("%.1f s", (after[name] - before[name]).Seconds())
}

// bulkRun is how long, from the first export of a bulk, until all were created in the remote
// and until all were mirrored.
type bulkRun struct{ created, mirrored time.Duration }

// bulkExport creates n exported Services at once and times them.
func bulkExport(ctx context.Context, remote kubernetes.Interface, m *mirrorArrivals, n int) (bulkRun, error) {
	names := make([]string, n)
	start := time.Now()
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("many-%04d", i)
		names[i] = "bulk/" + name
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := remote.CoreV1().Services("bulk").Create(ctx, service(name, "bulk", true), metav1.CreateOptions{})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return bulkRun{}, err
		}
	}
	created := time.Since(start)
	last, err := m.await(ctx, names)
	if err != nil {
		return bulkRun{}, err
	}
	return bulkRun{created: created, mirrored: last.Sub(start)}, nil
}

func service(name, ns string, exported bool) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	if exported {
		s.Labels[mcv1alpha1.LabelExported] = mcv1alpha1.ExportedGateway
	}
	return s
}

// floorWorkers is how many writes the floor makes at once: as many as the controller's workers.
const floorWorkers = 8

// writeFloor creates in local, itself, n Services and an EndpointSlice for each, as the
// controller does for n exports, and returns how long that took: what the apiserver lets any
// controller do at best.
func writeFloor(ctx context.Context, local kubernetes.Interface, n int) (time.Duration, error) {
	start := time.Now()
	errs := make(chan error, n)
	sem := make(chan struct{}, floorWorkers)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("floor-%04d", i)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if _, err := local.CoreV1().Services("floor").Create(ctx, service(name, "floor", false), metav1.CreateOptions{}); err != nil {
				errs <- err
				return
			}
			ready := true
			_, err := local.DiscoveryV1().EndpointSlices("floor").Create(ctx, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "floor", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.250"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			}, metav1.CreateOptions{})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
