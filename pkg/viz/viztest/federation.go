package viztest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/viz"
)

// Call is the traffic of one edge: From calls To at RPS requests per second, a share
// FailRatio of them failed by To, each taking Latency. A gRPC call fails as gRPC does: an
// HTTP 200 with grpc-status 14 (UNAVAILABLE); others with an HTTP 500. A call to another cluster goes
// as one through its gateway: to the mirror <name>-<cluster>, the caller's proxy knowing no
// destination workload, as pkg/proxy records it.
type Call struct {
	From, To  viz.Workload
	RPS       float64
	FailRatio float64
	Latency   time.Duration
	GRPC      bool
}

// Authority is the host:port From asks for: To's Service, or its mirror when To is in
// another cluster. Services are named as their workloads.
func (c Call) Authority() string {
	svc := c.To.Short()
	if c.To.Cluster != c.From.Cluster {
		svc += "-" + c.To.Cluster
	}
	return fmt.Sprintf("%s.%s.svc.cluster.local:8080", svc, c.To.Namespace)
}

// Federation is one Prometheus per cluster scraping the proxies' metrics of a scenario's
// workloads, moving as its calls say.
type Federation struct {
	Prometheus map[string]*Prometheus
	// window is the shortest a rate can be asked over: two scrapes and a half.
	window    time.Duration
	calls     []Call
	recorders map[viz.Workload]*proxy.MetricsRecorder
	links     map[string]*prometheus.GaugeVec
}

// Identity is the SPIFFE ID of a workload: its ServiceAccount is named as it.
func Identity(w viz.Workload) trust.ID {
	return trust.ID{TrustDomain: trust.DefaultTrustDomain(w.Cluster), Namespace: w.Namespace, ServiceAccount: w.Short()}
}

// StartFederation serves the metrics of every workload the calls name, one /metrics per
// cluster and namespace on loopback, starts a Prometheus per cluster scraping its own, and
// moves the counters until the test ends. Each cluster that calls another through its
// gateway also has a link controller's healthy meshfed_link_remote_state for it.
func StartFederation(t testing.TB, scrapeInterval time.Duration, calls []Call) *Federation {
	t.Helper()
	f := &Federation{window: scrapeInterval * 5 / 2, Prometheus: map[string]*Prometheus{}, calls: calls, recorders: map[viz.Workload]*proxy.MetricsRecorder{}, links: map[string]*prometheus.GaugeVec{}}
	type nsKey struct{ cluster, ns string }
	gatherers := map[nsKey]prometheus.Gatherers{}
	add := func(w viz.Workload) {
		if _, ok := f.recorders[w]; ok {
			return
		}
		// One registry per workload, all served by one /metrics per namespace: the pod label
		// that Prometheus' relabelling adds in a cluster keeps their series apart here.
		reg := prometheus.NewRegistry()
		r, err := proxy.NewMetricsRecorder(prometheus.WrapRegistererWith(prometheus.Labels{"pod": w.Short() + "-0"}, reg), w.Name)
		if err != nil {
			t.Fatal(err)
		}
		f.recorders[w] = r
		k := nsKey{w.Cluster, w.Namespace}
		gatherers[k] = append(gatherers[k], reg)
	}
	for _, c := range calls {
		add(c.From)
		add(c.To)
		if c.From.Cluster != c.To.Cluster && f.links[c.From.Cluster] == nil {
			reg := prometheus.NewRegistry()
			g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshfed_link_remote_state", Help: "as pkg/mirror's"}, []string{"link", "remote_cluster"})
			reg.MustRegister(g)
			f.links[c.From.Cluster] = g
			k := nsKey{c.From.Cluster, "mesh-multicluster"}
			gatherers[k] = append(gatherers[k], reg)
		}
		if c.From.Cluster != c.To.Cluster {
			// Labelled as pkg/mirror labels it: the Link's namespace/name, and the cluster.
			f.links[c.From.Cluster].WithLabelValues("mesh-multicluster/"+c.To.Cluster, c.To.Cluster).Set(1)
		}
	}
	targets := map[string][]Target{}
	keys := make([]nsKey, 0, len(gatherers))
	for k := range gatherers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].cluster+"/"+keys[i].ns < keys[j].cluster+"/"+keys[j].ns })
	for _, k := range keys {
		addr := serve(t, promhttp.HandlerFor(gatherers[k], promhttp.HandlerOpts{}))
		targets[k.cluster] = append(targets[k.cluster], Target{Addr: addr, Labels: map[string]string{"namespace": k.ns}})
	}
	for cluster, tg := range targets {
		f.Prometheus[cluster] = StartPrometheus(t, scrapeInterval, tg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.move(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// Sources are the viz API's sources: each cluster's Prometheus.
func (f *Federation) Sources() []viz.Source {
	var out []viz.Source
	for c, p := range f.Prometheus {
		out = append(out, viz.Source{Cluster: c, TrustDomain: trust.DefaultTrustDomain(c), Prometheus: p.API})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out
}

// WaitScraped waits until every cluster's Prometheus has enough samples of every workload
// for a rate: two scrapes after traffic began.
func (f *Federation) WaitScraped(ctx context.Context, t testing.TB) {
	t.Helper()
	for cluster, p := range f.Prometheus {
		// Every side of every call in the cluster: the callers' outbound, the callees' inbound.
		sides := map[[3]string]bool{}
		for _, c := range f.calls {
			if c.From.Cluster == cluster {
				dst := c.To.Name
				if c.To.Cluster != cluster {
					dst = ""
				}
				sides[[3]string{"outbound", c.From.Name, dst}] = true
			}
			if c.To.Cluster == cluster {
				sides[[3]string{"inbound", "", c.To.Name}] = true
			}
		}
		n := len(sides)
		p.WaitFor(ctx, t, fmt.Sprintf("a rate of the requests of %d proxies' sides in %s", n, cluster),
			fmt.Sprintf(`count(sum by (direction, src_workload, dst_workload) (rate(meshfed_proxy_requests_total[%s])) > 0)`, model.Duration(f.window)),
			func(v model.Vector) bool { return len(v) == 1 && int(v[0].Value) >= n })
		// And the recording rules' series of every side, which a server WithRecordingRules reads.
		p.WaitFor(ctx, t, fmt.Sprintf("the recorded rates of %d proxies' sides in %s", n, cluster),
			`(count(sum by (dst_workload) (meshfed:inbound_requests:rate1m) > 0) or vector(0)) + (count(sum by (src_workload, dst_workload) (meshfed:outbound_requests:rate1m) > 0) or vector(0))`,
			func(v model.Vector) bool { return len(v) == 1 && int(v[0].Value) >= n })
	}
}

// move records the calls' requests as time passes, as proxies carrying them would.
func (f *Federation) move(ctx context.Context) {
	start := time.Now()
	sent := make([]int, len(f.calls))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for i, c := range f.calls {
				due := int(math.Floor(now.Sub(start).Seconds() * c.RPS))
				for ; sent[i] < due; sent[i]++ {
					f.record(c, sent[i])
				}
			}
		}
	}
}

// record records the n-th request of c on both sides: the caller's outbound, the callee's
// inbound. A share FailRatio of them, spread evenly, fail.
func (f *Federation) record(c Call, n int) {
	code, grpc := http.StatusOK, ""
	if c.GRPC {
		grpc = "0"
	}
	if math.Floor(float64(n+1)*c.FailRatio) > math.Floor(float64(n)*c.FailRatio) {
		if c.GRPC {
			grpc = "14"
		} else {
			code = http.StatusInternalServerError
		}
	}
	server, client := Identity(c.To), Identity(c.From)
	ep := proxy.Endpoint{Labels: map[string]string{"namespace": c.To.Namespace}}
	if c.To.Cluster == c.From.Cluster {
		ep.Labels["workload"] = c.To.Name
		ep.Identity = &server
	} else {
		// Through a gateway the destination service names the cluster, not the workload.
		ep.Labels["cluster"] = c.To.Cluster
		ep.Gateway = &proxy.GatewayHop{Cluster: c.To.Cluster, Authority: c.To.Short() + "." + c.To.Namespace + ".svc.cluster.local:8080", RemoteIdentities: []trust.ID{server}}
		if n%10 == 0 { // a tunnel now and then, as connections come and go
			f.recorders[c.From].GatewayDial(c.To.Cluster, "ok")
		}
	}
	f.recorders[c.From].Outbound(ep, c.Authority(), code, grpc, c.Latency)
	f.recorders[c.To].Inbound(&client, c.Authority(), code, grpc, c.Latency)
}

// serve serves h on a loopback port until the test ends.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("metrics server: %v", err)
		}
	})
	return l.Addr().String()
}
