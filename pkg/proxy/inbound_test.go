package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshfed/meshfed/internal/testenv"
	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/policy"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// serverPolicy makes the app's port a Server that only allowed may reach.
func serverPolicy(t *testing.T, port uint16, allowed trust.ID, def policy.DefaultPolicy) *PolicyAuthorizer {
	t.Helper()
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "shop"} }
	ix, err := policy.Compile("shop", domain, policy.Objects{
		Servers: []policyv1alpha1.Server{{ObjectMeta: meta("api"), Spec: policyv1alpha1.ServerSpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Port:        intstr.FromInt32(int32(port)),
		}}},
		AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{{ObjectMeta: meta("api"), Spec: policyv1alpha1.AuthorizationPolicySpec{
			TargetRef:                  policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetServer, Name: "api"},
			RequiredAuthenticationRefs: []policyv1alpha1.AuthenticationRef{{Kind: policyv1alpha1.KindMeshTLSAuthentication, Name: "callers"}},
		}}},
		MeshTLSAuthentications: []policyv1alpha1.MeshTLSAuthentication{{ObjectMeta: meta("callers"), Spec: policyv1alpha1.MeshTLSAuthenticationSpec{
			Identities: []policyv1alpha1.IdentityPattern{policyv1alpha1.IdentityPattern(allowed.String())},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return NewPolicyAuthorizer(policy.Pod{Labels: map[string]string{"app": "api"}}, def, ix)
}

// startInbound runs a server proxy's inbound in front of the app on appPort, with policy.
func startInbound(t *testing.T, pki *testPKI, appPort uint16, authz Authorizer, reg *prometheus.Registry) (*Proxy, net.Listener) {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	in := listen(t)
	p, err := New(Config{
		Certs: pki.manager(t, serverID), Resolver: StaticResolver{}, Log: quietLog(), Workload: "api", Policy: authz, Metrics: reg,
		OriginalDestination: func(net.Conn) (netip.AddrPort, error) { return loopback(appPort), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go p.ServeInbound(ctx, in)
	return p, in
}

func TestInboundPolicy(t *testing.T) {
	pki := newTestPKI(t)
	app := httpApp(t, false)
	port := addrOf(app).Port()
	other := trust.ID{TrustDomain: "east.meshfed.local", Namespace: "shop", ServiceAccount: "web"}

	t.Run("a client the policy names gets through", func(t *testing.T) {
		_, in := startInbound(t, pki, port, serverPolicy(t, port, clientID, policy.Deny), nil)
		if code := meshGet(t, pki, addrOf(in), port); code != 200 {
			t.Errorf("allowed client: %d; want 200", code)
		}
	})
	t.Run("a client the policy does not name is refused", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		_, in := startInbound(t, pki, port, serverPolicy(t, port, other, policy.AllUnauthenticated), reg)
		if code := meshGet(t, pki, addrOf(in), port); code != http.StatusBadGateway {
			t.Errorf("client outside the policy: %d; want 502", code)
		}
		if n := testutil.ToFloat64(mustCounter(t, reg, "meshfed_proxy_inbound_denied_total")); n != 1 {
			t.Errorf("denials counted: %v; want 1", n)
		}
	})
	t.Run("plaintext from an unmeshed client follows the policy", func(t *testing.T) {
		_, open := startInbound(t, pki, port, serverPolicy(t, port+1, clientID, policy.AllUnauthenticated), nil)
		if body, err := plainGet(addrOf(open).String()); err != nil || !strings.HasPrefix(body, "HTTP/1.1") {
			t.Errorf("plaintext to a port no Server selects, default all-unauthenticated: %q, %v", body, err)
		}
		_, closed := startInbound(t, pki, port, serverPolicy(t, port, clientID, policy.AllUnauthenticated), nil)
		if body, err := plainGet(addrOf(closed).String()); err == nil {
			t.Errorf("plaintext to a Server that requires mTLS got %q", body)
		}
	})
}

// meshGet sends one request through a client proxy to the inbound at in.
func meshGet(t *testing.T, pki *testPKI, in netip.AddrPort, appPort uint16) int {
	t.Helper()
	client, err := New(Config{
		Certs: pki.manager(t, clientID), Log: quietLog(), Workload: "web",
		Resolver:            StaticResolver{"198.18.200.1:80": {{Addr: in, Identity: &serverID}}},
		OriginalDestination: func(net.Conn) (netip.AddrPort, error) { return mustAddrPort("198.18.200.1:80"), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	out := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.ServeOutbound(ctx, out)
	resp, err := dialThrough(&pair{outbound: out}, false).Get("http://198.18.200.1/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func plainGet(addr string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			total := 0.0
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			c.Add(total)
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// The metrics say who talked to whom: both sides' workloads and identities.
func TestMetricsLabels(t *testing.T) {
	pki := newTestPKI(t)
	app := httpApp(t, false)
	port := addrOf(app).Port()
	reg := prometheus.NewRegistry()
	_, in := startInbound(t, pki, port, AllowAll{}, reg)
	if code := meshGet(t, pki, addrOf(in), port); code != 200 {
		t.Fatalf("request: %d", code)
	}
	want := fmt.Sprintf(`meshfed_proxy_requests_total{authority="198.18.200.1",client_id=%q,direction="inbound",dst_workload="api",grpc_status="",remote_cluster="",server_id="",src_workload="",status_code="200",tls="true"} 1`, clientID.String())
	// The request is counted once the response is written, which the client may read first:
	// wait for the count rather than race it.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = testutil.GatherAndCompare(reg, strings.NewReader("# HELP meshfed_proxy_requests_total HTTP requests, by direction, both sides and response status.\n# TYPE meshfed_proxy_requests_total counter\n"+want+"\n"), "meshfed_proxy_requests_total"); err == nil {
			break
		}
	}
	if err != nil {
		t.Error(err)
	}
}

func TestAdminReady(t *testing.T) {
	pki := newTestPKI(t)
	waiting := certs.NewManager(clientID, pki.bundle, pki.certifier(clientID, time.Hour), quietLog())
	for name, tt := range map[string]struct {
		c    *certs.Manager
		code int
	}{
		"no certificate yet": {waiting, http.StatusServiceUnavailable},
		"certified":          {pki.manager(t, clientID), http.StatusOK},
	} {
		p, err := New(Config{Certs: tt.c, Resolver: StaticResolver{}, Log: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		p.AdminHandler(prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
		if rec.Code != tt.code {
			t.Errorf("%s: /ready %d; want %d", name, rec.Code, tt.code)
		}
	}
}

// On drain, a request under way finishes; then the proxy is done.
func TestDrainFinishesRequests(t *testing.T) {
	pki := newTestPKI(t)
	release := make(chan struct{})
	app := listen(t)
	go http.Serve(app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "done")
	}))
	p := newPair(t, pki, addrOf(app).Port(), serverID, pki.manager(t, serverID))
	result := make(chan string, 1)
	go func() {
		body, err := func() (string, error) {
			resp, err := dialThrough(p, false).Get(fmt.Sprintf("http://198.18.200.1:%d/", addrOf(app).Port()))
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}()
		if err != nil {
			body = err.Error()
		}
		result <- body
	}()
	testenv.Eventually(t, 5*time.Second, "the request to reach the app", func() error {
		if p.client.open() == 0 {
			return fmt.Errorf("no connection open")
		}
		return nil
	})
	p.outbound.Close()
	drained := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.client.Drain(ctx)
		close(drained)
	}()
	close(release)
	if body := <-result; body != "done" {
		t.Errorf("the request under way got %q; want done", body)
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end")
	}
}

func loopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// A policy changed while a peer's connection stays open applies to its next request.
func TestInboundPolicyPerRequest(t *testing.T) {
	pki := newTestPKI(t)
	app := httpApp(t, false)
	port := addrOf(app).Port()
	authz := serverPolicy(t, port, clientID, policy.AllUnauthenticated)
	_, in := startInbound(t, pki, port, authz, nil)

	client, err := New(Config{
		Certs: pki.manager(t, clientID), Log: quietLog(), Workload: "web",
		Resolver:            StaticResolver{"198.18.200.1:80": {{Addr: addrOf(in), Identity: &serverID}}},
		OriginalDestination: func(net.Conn) (netip.AddrPort, error) { return mustAddrPort("198.18.200.1:80"), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	out := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.ServeOutbound(ctx, out)
	c := dialThrough(&pair{outbound: out}, false)
	get := func() int {
		resp, err := c.Get("http://198.18.200.1/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("allowed: %d", code)
	}
	other := trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "other"}
	authz.SetIndex(serverPolicy(t, port, other, policy.AllUnauthenticated).index.Load())
	if code := get(); code != http.StatusForbidden {
		t.Errorf("after the policy changed, on the same connection: %d; want 403", code)
	}
}
