package mirror

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/meshfed/internal/testenv"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// TestRemoteUnreachable cuts the way to a remote's apiserver: the mirrors stay, their
// endpoints go not ready and the Link says the remote is unreachable; when the way is back,
// all is as before. (The e2e suite stops a real apiserver; here a TCP relay stands between,
// as envtest's apiserver makes new certificates when it restarts.)
func TestRemoteUnreachable(t *testing.T) {
	relay := newRelay(t, remoteSide.cfg.Host)
	kc, err := clientcmd.Load(readerKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kc.Clusters {
		c.Server = "https://" + relay.addr
	}
	kubeconfig, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}

	f := newFixture(t, kubeconfig)
	f.remoteService("pay", exported("true"))
	f.awaitMirror(f.mirrorOf("pay"), gatewayEndpoints(true))
	f.awaitLinkCondition(mcv1alpha1.LinkRemoteReachable, metav1.ConditionTrue, "Watched")

	relay.stop()
	f.awaitLinkCondition(mcv1alpha1.LinkRemoteReachable, metav1.ConditionFalse, "Unreachable")
	f.awaitMirror(f.mirrorOf("pay"), gatewayEndpoints(false))

	relay.start()
	f.awaitLinkCondition(mcv1alpha1.LinkRemoteReachable, metav1.ConditionTrue, "Watched")
	f.awaitMirror(f.mirrorOf("pay"), gatewayEndpoints(true))
}

// relay forwards TCP from a loopback port to target until stopped; start listens on the same
// port again.
type relay struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newRelay(t *testing.T, target string) *relay {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, target: u.Host, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *relay) start() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.ln, r.addr = ln, ln.Addr().String()
	r.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", r.target)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in, out)
			r.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

// stop closes the listener and every connection: the remote is gone from the network.
func (r *relay) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// TestRestartChangesNothing starts a second controller over mirrors the first made: it writes
// nothing, as everything is already right.
func TestRestartChangesNothing(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	for _, n := range []string{"a", "b", "c"} {
		f.remoteService(n, exported("true"))
	}
	f.remoteService("d", exported("remote-discovery"))
	f.remotePods("d", map[string]string{"": "198.18.144.10"})
	for _, n := range []string{"a", "b", "c"} {
		f.awaitMirror(f.mirrorOf(n), gatewayEndpoints(true))
	}
	f.awaitMirror(f.mirrorOf("d"), func(_ *corev1.Service, s []discoveryv1.EndpointSlice) error {
		if len(s) != 1 || len(s[0].Endpoints) != 1 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	before := resourceVersions(t, f)

	mgr, err := ctrl.NewManager(localSide.cfg, ctrl.Options{
		Scheme:  localSide.client.Scheme(),
		Cache:   CacheOptions(linkNamespace),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// The suite's controllers have these names already.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	opts := Options{Reconciled: func(k string) { mu.Lock(); seen[k] = true; mu.Unlock() }}
	if err := Setup(mgr, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()

	testenv.Eventually(t, wait, "the restarted controller to reconcile every export", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range []string{"a", "b", "c", "d"} {
			k := mirrorKey{Link: client.ObjectKeyFromObject(f.link), Namespace: f.namespace, Name: n}.String()
			if !seen[k] {
				return fmt.Errorf("%s not yet", k)
			}
		}
		return nil
	})
	after := resourceVersions(t, f)
	for name, rv := range before {
		if after[name] != rv {
			t.Errorf("%s was written by the restarted controller (resourceVersion %s -> %s)", name, rv, after[name])
		}
	}
}

func resourceVersions(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	out := map[string]string{}
	var svcs corev1.ServiceList
	if err := localSide.client.List(f.ctx, &svcs, client.InNamespace(f.namespace)); err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		out["Service/"+s.Name] = s.ResourceVersion
	}
	var slices discoveryv1.EndpointSliceList
	if err := localSide.client.List(f.ctx, &slices, client.InNamespace(f.namespace)); err != nil {
		t.Fatal(err)
	}
	for _, s := range slices.Items {
		out["EndpointSlice/"+s.Name] = s.ResourceVersion
	}
	return out
}

// TestBadLinkRefused: the API refuses a Link with bad fields, naming the field.
func TestBadLinkRefused(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*mcv1alpha1.Link)
		field string
	}{
		{"cluster name with capitals", func(l *mcv1alpha1.Link) { l.Spec.TargetClusterName = "East" }, "spec.targetClusterName"},
		{"no credentials", func(l *mcv1alpha1.Link) { l.Spec.CredentialsSecret = "" }, "spec.credentialsSecret"},
		{"port out of range", func(l *mcv1alpha1.Link) { l.Spec.GatewayPort = 70000 }, "spec.gatewayPort"},
		{"identity not SPIFFE", func(l *mcv1alpha1.Link) { l.Spec.GatewayIdentity = "gateway.east" }, "spec.gatewayIdentity"},
		{"a gateway address twice", func(l *mcv1alpha1.Link) { l.Spec.GatewayAddresses = []string{"198.18.0.5", "198.18.0.5"} }, "gatewayAddresses must not repeat"},
		{"probe every 100ms", func(l *mcv1alpha1.Link) {
			l.Spec.Probe = &mcv1alpha1.ProbeSpec{Period: metav1.Duration{Duration: 100 * time.Millisecond}}
		}, "period must be between 1s and 5m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &mcv1alpha1.Link{
				ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: linkNamespace},
				Spec:       mcv1alpha1.LinkSpec{TargetClusterName: "east", CredentialsSecret: "c", GatewayAddresses: []string{"198.18.0.5"}},
			}
			tt.mod(l)
			err := localSide.client.Create(context.Background(), l)
			if err == nil {
				localSide.client.Delete(context.Background(), l)
				t.Fatal("the apiserver accepted the Link")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
		})
	}
	t.Run("the cluster name cannot change", func(t *testing.T) {
		f := newFixture(t, readerKubeconfig)
		// The controller writes the Link too (its finalizer, its status): a conflict is
		// retried on the latest, for the refusal of the change itself.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var l mcv1alpha1.Link
			if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(f.link), &l); err != nil {
				return err
			}
			l.Spec.TargetClusterName = "elsewhere"
			return localSide.client.Update(f.ctx, &l)
		})
		if err == nil || !strings.Contains(err.Error(), "targetClusterName cannot change") {
			t.Errorf("update: %v, want the immutability refused", err)
		}
	})
}

// TestGatewayProbe stops the remote gateway's probe endpoint: the Link says the gateway is
// dead and its gateway mirrors go not ready, while a flat mirror, which does not go through
// the gateway, stays ready; when the gateway answers again, all is as before.
func TestGatewayProbe(t *testing.T) {
	var alive atomic.Bool
	alive.Store(true)
	probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" || !alive.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}))
	defer probe.Close()
	port := probe.Listener.Addr().(*net.TCPAddr).Port
	probeTarget.Store(probe.Listener.Addr().String())

	f := newFixture(t, readerKubeconfig, func(l *mcv1alpha1.Link) {
		l.Spec.GatewayAddresses = []string{probeGateway}
		l.Spec.Probe = &mcv1alpha1.ProbeSpec{Path: "/ready", Port: int32(port), Period: metav1.Duration{Duration: time.Second}, FailureThreshold: 2}
	})
	f.remoteService("pay", exported("true"))
	f.remoteService("flat", exported("remote-discovery"))
	gatewayReady := func(ready bool) func(*corev1.Service, []discoveryv1.EndpointSlice) error {
		return func(_ *corev1.Service, slices []discoveryv1.EndpointSlice) error {
			if len(slices) != 1 || len(slices[0].Endpoints) != 1 || slices[0].Endpoints[0].Addresses[0] != probeGateway {
				return fmt.Errorf("slices %v, want one endpoint at the gateway %s", slices, probeGateway)
			}
			if got := *slices[0].Endpoints[0].Conditions.Ready; got != ready {
				return fmt.Errorf("gateway endpoint ready=%v, want %v", got, ready)
			}
			return nil
		}
	}
	f.awaitMirror(f.mirrorOf("pay"), gatewayReady(true))
	f.awaitLinkCondition(mcv1alpha1.LinkGatewayAlive, metav1.ConditionTrue, "ProbeSucceeded")

	alive.Store(false)
	f.awaitLinkCondition(mcv1alpha1.LinkGatewayAlive, metav1.ConditionFalse, "ProbeFailed")
	f.awaitMirror(f.mirrorOf("pay"), gatewayReady(false))
	f.awaitMirror(f.mirrorOf("flat"), func(svc *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		if svc.Labels[mcv1alpha1.LabelMirrorMode] != mcv1alpha1.MirrorModeRemoteDiscovery {
			return fmt.Errorf("flat mirror labelled %v", svc.Labels)
		}
		return nil
	})

	alive.Store(true)
	f.awaitLinkCondition(mcv1alpha1.LinkGatewayAlive, metav1.ConditionTrue, "ProbeSucceeded")
	f.awaitMirror(f.mirrorOf("pay"), gatewayReady(true))
}

// probeGateway is the gateway address of TestGatewayProbe's Link: EndpointSlices refuse
// loopback, so the suite's probes dial probeTarget, a loopback server, in its stead.
const probeGateway = "198.18.0.201"

var probeTarget atomic.Value // string

func dialGateway(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, _, _ := net.SplitHostPort(addr); host == probeGateway {
		if t, ok := probeTarget.Load().(string); ok {
			addr = t
		}
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}
