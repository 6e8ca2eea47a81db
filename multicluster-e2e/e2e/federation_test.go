//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/pkg/trust"
)

// fedApp is a meshed echo server named name, running as its own ServiceAccount in shop, with
// a Service when service is set. Its container doubles as the client: `kubectl exec` runs
// `echo get` in the pod's network namespace, so the call goes out through its proxy.
func fedApp(name string, service bool) string {
	app := fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s, namespace: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      serviceAccountName: %[1]s
      containers:
      - name: echo
        image: %[2]s
        imagePullPolicy: IfNotPresent
        args: [serve]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: 8080}
          periodSeconds: 1
`, name, build.RepoImage("echo"))
	if service {
		app += fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: shop
  labels: {mirror.meshfed.io/exported: "true"}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: http, appProtocol: http}]
`, name)
	}
	return app
}

// federatedApp is fedApp with a Service that is a member of the federated service of its
// name, not exported.
func federatedApp(name string) string {
	return fedApp(name, false) + fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: shop
  labels: {mirror.meshfed.io/federated: member}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: http, appProtocol: http}]
`, name)
}

// plainApp is fedApp with a Service of its own, neither exported nor federated: what a
// ServiceExport exports. Its port 80 is the app's; so is each of more, named port-N.
func plainApp(name string, more ...int) string {
	ports := "  - {name: http, port: 80, targetPort: http, appProtocol: http}\n"
	for _, p := range more {
		ports += fmt.Sprintf("  - {name: port-%d, port: %d, targetPort: http, appProtocol: http}\n", p, p)
	}
	return fedApp(name, false) + fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: shop}
spec:
  selector: {app: %s}
  ports:
%s`, name, name, ports)
}

const meshedShop = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, annotations: {meshfed.io/inject: enabled}}\n"

// TestFederation joins west and east as a user does, with the CLI and kubectl only: one
// anchor through cert-manager, the mesh in both, east's gateway admitting west, west linked to
// east. A west workload then calls east's service by its mirror's name, and the test checks
// what a user would: east answers, east's proxy sees the west caller's own identity, a policy
// in east can tell two west workloads apart, the gateway speaks TLS 1.3 to members of the
// federation only, and a dead gateway takes the mirror out until it is back. A third cluster,
// north, linked from west too, shares with west and east the federated service api: west's
// calls stay in west while its api is up, fail over to the others when it is not, and come
// back.
func TestFederation(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west", "east", "north"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	west, east := e.client(t, "west"), e.client(t, "east")

	anchorDir := installMesh(t, ctx, e, "west", "east", "north")
	for _, c := range []string{"west", "east", "north"} {
		if out, err := e.meshErr(ctx, c, "", "check", "--wait", "3m"); err != nil {
			t.Fatalf("mesh check in %s: %v\n%s", c, err, out)
		}
	}
	e.apply(t, ctx, "west", e.mesh(t, ctx, "west", "multicluster", "install", "--cluster-name", "west"))
	for _, c := range []string{"east", "north"} {
		e.apply(t, ctx, c, e.mesh(t, ctx, c, "multicluster", "install", "--cluster-name", c, "--allow-clusters", "west"))
	}
	if _, err := e.kubectl(ctx, "north", "", "-n", "mesh-multicluster", "wait", "--for=condition=Available", "deployment/mesh-gateway", "--timeout=120s"); err != nil {
		t.Fatal(err)
	}
	gatewayIP := awaitGateway(t, ctx, e, "east")

	e.apply(t, ctx, "east", meshedShop+"---\n"+fedApp("web", true)+"---\n"+federatedApp("api")+"---\n"+plainApp("cart"))
	e.apply(t, ctx, "north", meshedShop+"---\n"+federatedApp("api")+"---\n"+plainApp("cart", 81))
	e.apply(t, ctx, "west", meshedShop+"---\n"+fedApp("front", false)+"---\n"+fedApp("other", false)+"---\n"+federatedApp("api"))
	for c, deploys := range map[string][]string{"east": {"web", "api", "cart"}, "north": {"api", "cart"}, "west": {"front", "other", "api"}} {
		for _, d := range deploys {
			if _, err := e.kubectl(ctx, c, "", "-n", "shop", "rollout", "status", "deployment/"+d, "--timeout=180s"); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 60*time.Second, "every shop pod in "+c+" meshed and ready", func() error {
			return podsMeshedAndReady(ctx, e.client(t, c), "shop")
		})
	}

	// Linked the way the README says: run against east, applied in west. The gateway's
	// address, port and identity come from east's gateway Service and trust domain.
	// North gives west credentials of west's own, which it can revoke alone.
	e.apply(t, ctx, "north", e.mesh(t, ctx, "north", "multicluster", "allow", "--peer", "west"))
	e.apply(t, ctx, "west", e.mesh(t, ctx, "east", "multicluster", "link", "--cluster-name", "east"))
	eventually(t, 30*time.Second, "north's token controller to fill west's token", func() error {
		out, err := e.meshErr(ctx, "north", "", "multicluster", "link", "--cluster-name", "north", "--peer", "west")
		if err == nil {
			e.apply(t, ctx, "west", out)
		}
		return err
	})
	for _, c := range []string{"east", "north"} {
		if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=Ready", "link/"+c, "--timeout=90s"); err != nil {
			t.Fatal(err)
		}
	}
	mirrorEndpoints(t, ctx, west, "shop", "web-east", func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
		return readyAt(eps, gatewayIP, true)
	})

	webEast := "http://web-east.shop.svc.cluster.local/"
	call := func(client string) (string, error) {
		return e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/"+client, "-c", "echo", "--", echoBin, "get", "--timeout=3s", webEast)
	}

	t.Run("a west pod calls web-east by name and east answers", func(t *testing.T) {
		eventually(t, 60*time.Second, "west's front to get an answer from east's web at "+webEast, func() error {
			out, err := call("front")
			if err != nil {
				return err
			}
			if !strings.HasPrefix(out, "echo web-") {
				return fmt.Errorf("answered %q, want east's web (echo web-...)", out)
			}
			return nil
		})
	})

	t.Run("east's proxy sees the west caller's own identity, over mTLS", func(t *testing.T) {
		want := `client_id="spiffe://west.meshfed.local/ns/shop/sa/front"`
		eventually(t, 30*time.Second, "east web's proxy to count a request from west's front",
			mTLSRequestSeen(ctx, east, "shop", "app=web", "inbound", want))
	})

	t.Run("a policy in east admitting west's front refuses west's other", func(t *testing.T) {
		if _, err := call("other"); err != nil {
			t.Fatalf("before any policy, west's other cannot call web-east: %v", err)
		}
		e.apply(t, ctx, "east", webPolicy(t, ctx, e, "spiffe://west.meshfed.local/ns/shop/sa/front"))
		eventually(t, 30*time.Second, "east's web to refuse west's other", func() error {
			out, err := call("other")
			if err == nil {
				return fmt.Errorf("west's other was answered %q", out)
			}
			// Refused by east's proxy, not lost on the way: its metrics name the caller.
			m, merr := proxyMetrics(ctx, east, "shop", "app=web")
			if merr != nil {
				return merr
			}
			for _, l := range strings.Split(m, "\n") {
				if strings.HasPrefix(l, "meshfed_proxy_inbound_denied_total{") && strings.Contains(l, `client_id="spiffe://west.meshfed.local/ns/shop/sa/other"`) {
					return nil
				}
			}
			return fmt.Errorf("west's other failed (%v), but east's proxy counts no denial of it:\n%s", err, grep(m, "meshfed_proxy_inbound_denied_total"))
		})
		if out, err := call("front"); err != nil {
			t.Errorf("west's front, which the policy names, is refused too: %v: %s", err, out)
		}
	})

	t.Run("the gateway speaks TLS 1.3 only, as east's gateway identity", func(t *testing.T) {
		addr := net.JoinHostPort(gatewayIP, "4143")
		bundle := bundleOf(t, ctx, east)
		var peer *x509.Certificate
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
			MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, // checked against the bundle below
			NextProtos: []string{"meshfed.io/gateway", "h2"},
			VerifyConnection: func(cs tls.ConnectionState) error {
				peer = cs.PeerCertificates[0]
				return nil
			},
		})
		if err != nil {
			t.Fatalf("TLS 1.3 to the gateway at %s: %v", addr, err)
		}
		state := conn.ConnectionState()
		conn.Close()
		if state.Version != tls.VersionTLS13 {
			t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(state.Version))
		}
		id, err := bundle.Verify(peer, state.PeerCertificates[1:], time.Now())
		want := trust.ID{TrustDomain: "east.meshfed.local", Namespace: "mesh-multicluster", ServiceAccount: "mesh-gateway"}
		if err != nil || id != want {
			t.Errorf("the gateway proves %v (%v), want %s chained to the anchor", id, err, want)
		}
		old, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true})
		if err == nil {
			old.Close()
			t.Error("the gateway accepted TLS 1.2")
		}
	})

	t.Run("east's gateway killed: west's mirror goes not ready, calls fail, and all recovers", func(t *testing.T) {
		// The policy of the case before would refuse other; front is the caller here.
		// West's gateway gossips with east's: the pool, not the 9-second probe, sees it die.
		eventually(t, 60*time.Second, "west's Link to say east's gateway is alive in the gossip pool", func() error {
			return linkGateway(ctx, e, metav1.ConditionTrue, "MemberAlive")
		})
		eventually(t, 60*time.Second, "mesh multicluster gateways to show east alive, with a latency", func() error {
			return gatewaysSay(ctx, e, "true", true)
		})
		killed := time.Now()
		if _, err := e.kubectl(ctx, "east", "", "-n", "mesh-multicluster", "scale", "deployment/mesh-gateway", "--replicas=0"); err != nil {
			t.Fatal(err)
		}
		mirrorEndpoints(t, ctx, west, "shop", "web-east", func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
			return readyAt(eps, gatewayIP, false)
		})
		t.Logf("east's gateway scaled to 0: west's mirror not ready %s later", time.Since(killed).Round(100*time.Millisecond))
		if err := linkGateway(ctx, e, metav1.ConditionFalse, "MemberDead"); err != nil {
			t.Errorf("the gossip pool did not see east's gateway die: %v", err)
		}
		// Refused at once by west's own proxy, saying why, rather than left to time out.
		if out, err := call("front"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "has no ready endpoint") {
			t.Errorf("west's front, with east's gateway down, was answered %q (%v), want a 503 from its proxy saying web-east has no ready endpoint", out, err)
		}
		if err := gatewaysSay(ctx, e, "false", false); err != nil {
			t.Error(err)
		}
		if out, err := e.meshErr(ctx, "west", "", "multicluster", "check"); err == nil || !strings.Contains(out, "east") {
			t.Errorf("mesh multicluster check passed, or did not name east, with east's gateway down: %v\n%s", err, out)
		}
		if _, err := e.kubectl(ctx, "east", "", "-n", "mesh-multicluster", "scale", "deployment/mesh-gateway", "--replicas=1"); err != nil {
			t.Fatal(err)
		}
		mirrorEndpoints(t, ctx, west, "shop", "web-east", func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
			return readyAt(eps, gatewayIP, true)
		})
		eventually(t, 60*time.Second, "west's front to reach east's web again", func() error {
			_, err := call("front")
			return err
		})
		if out, err := e.meshErr(ctx, "west", "", "multicluster", "check"); err != nil {
			t.Errorf("mesh multicluster check with east's gateway back: %v\n%s", err, out)
		}
	})

	t.Run("api-federated answers from west while west's api is up, else from the other clusters that have a ready api", func(t *testing.T) {
		apiFederated := "http://api-federated.shop.svc.cluster.local/"
		pods := map[string][]string{}
		for _, c := range []string{"west", "east", "north"} {
			pods[c] = podNames(ctx, t, e, c, "shop", "app=api")
		}
		// answers calls until every cluster of want has answered, and fails if another does.
		answers := func(desc string, want ...string) {
			t.Helper()
			seen := map[string]bool{}
			eventually(t, 60*time.Second, "api-federated to answer from "+desc, func() error {
				for i := 0; i < 4*len(want); i++ {
					got, err := answeredBy(ctx, e, apiFederated, pods)
					if err != nil {
						return err
					}
					if !slices.Contains(want, got) {
						clear(seen) // still on the way there: count anew
						return fmt.Errorf("answered from %s", got)
					}
					seen[got] = true
				}
				if len(seen) != len(want) {
					return fmt.Errorf("only %v answered so far", seen)
				}
				return nil
			})
		}
		scale := func(cluster string, replicas int) {
			t.Helper()
			if _, err := e.kubectl(ctx, cluster, "", "-n", "shop", "scale", "deployment/api", fmt.Sprintf("--replicas=%d", replicas)); err != nil {
				t.Fatal(err)
			}
			if replicas == 0 {
				return
			}
			if _, err := e.kubectl(ctx, cluster, "", "-n", "shop", "rollout", "status", "deployment/api", "--timeout=120s"); err != nil {
				t.Fatal(err)
			}
			pods[cluster] = podNames(ctx, t, e, cluster, "shop", "app=api")
		}
		answers("west alone: local first", "west")
		scale("west", 0)
		answers("east and north, west's api being at zero", "east", "north")
		scale("east", 0)
		answers("north alone, east's api being at zero too", "north")
		scale("east", 1)
		scale("west", 1)
		answers("west alone again", "west")
	})

	t.Run("a ServiceExport in east: west imports web as a clusterset service and reaches east at its ClusterSetIP", func(t *testing.T) {
		e.apply(t, ctx, "east", "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: web, namespace: shop}\n")
		eventually(t, 60*time.Second, "east's ServiceExport shop/web to be Valid", func() error {
			out, err := e.kubectl(ctx, "east", "", "-n", "shop", "get", "serviceexport", "web", "-o", `jsonpath={.status.conditions[?(@.type=="Valid")].status}`)
			if err != nil {
				return err
			}
			if out != "True" {
				return fmt.Errorf("Valid is %q", out)
			}
			return nil
		})
		var clusterSetIP string
		// Its ClusterSetIP is from west's range of them, the ServiceCIDR meshfed-clusterset
		// `mesh multicluster install` made, not from west's service range.
		clusterSetRange := netip.MustParsePrefix(deploy.DefaultClusterSetIPRange)
		eventually(t, 60*time.Second, "west's ServiceImport shop/web, of type ClusterSetIP in "+clusterSetRange.String()+", from east, Ready", func() error {
			out, err := e.kubectl(ctx, "west", "", "-n", "shop", "get", "serviceimport", "web", "-o", `jsonpath={.spec.type} {.spec.ips[0]} {.status.clusters[*].cluster} {.status.conditions[?(@.type=="Ready")].status}`)
			if err != nil {
				return err
			}
			f := strings.Fields(out)
			if len(f) != 4 || f[0] != "ClusterSetIP" || f[2] != "east" || f[3] != "True" {
				return fmt.Errorf("type, ips, clusters and Ready are %q", out)
			}
			if ip, err := netip.ParseAddr(f[1]); err != nil || !clusterSetRange.Contains(ip) {
				return fmt.Errorf("ClusterSetIP %s outside the range %s", f[1], clusterSetRange)
			}
			clusterSetIP = f[1]
			return nil
		})
		eventually(t, 60*time.Second, "web.shop.svc.clusterset.local to resolve to the ClusterSetIP in west", func() error {
			out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin, "resolve", "--timeout=3s", "web.shop.svc.clusterset.local")
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) != clusterSetIP {
				return fmt.Errorf("resolved to %q, want %s", out, clusterSetIP)
			}
			return nil
		})
		for _, url := range []string{"http://web.shop.svc.clusterset.local/", "http://web-clusterset.shop.svc.cluster.local/", "http://" + clusterSetIP + "/"} {
			eventually(t, 60*time.Second, "west's front to be answered by east's web at "+url, func() error {
				out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin, "get", "--timeout=3s", url)
				if err != nil {
					return err
				}
				if !strings.HasPrefix(out, "echo web-") {
					return fmt.Errorf("answered %q, want east's web", out)
				}
				return nil
			})
		}
		if _, err := e.kubectl(ctx, "east", "", "-n", "shop", "delete", "serviceexport", "web"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "west's ServiceImport shop/web to go with the last export", func() error {
			_, err := e.kubectl(ctx, "west", "", "-n", "shop", "get", "serviceimport", "web")
			if err == nil {
				return fmt.Errorf("still there")
			}
			if !strings.Contains(err.Error(), "NotFound") {
				return err
			}
			return nil
		})
	})

	t.Run("cart, in east and north, is reached in west only where it is exported and on the ports each exposes; bad exports say why", func(t *testing.T) {
		pods := map[string][]string{}
		for _, c := range []string{"east", "north"} {
			pods[c] = podNames(ctx, t, e, c, "shop", "app=cart")
		}
		// onlyFrom calls url until n calls in a row were answered by cluster, and none other.
		onlyFrom := func(url, cluster string, n int) {
			t.Helper()
			eventually(t, 60*time.Second, fmt.Sprintf("%s to answer %d calls in a row from %s alone", url, n, cluster), func() error {
				for i := 0; i < n; i++ {
					got, err := answeredBy(ctx, e, url, pods)
					if err != nil {
						return err
					}
					if got != cluster {
						return fmt.Errorf("answered from %s", got)
					}
				}
				return nil
			})
		}
		cart, cart81 := "http://cart.shop.svc.clusterset.local/", "http://cart.shop.svc.clusterset.local:81/"
		export := func(cluster, name string) {
			t.Helper()
			e.apply(t, ctx, cluster, fmt.Sprintf("apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: %s, namespace: shop}\n", name))
		}
		unexport := func(cluster, name string) {
			t.Helper()
			if _, err := e.kubectl(ctx, cluster, "", "-n", "shop", "delete", "serviceexport", name); err != nil {
				t.Fatal(err)
			}
		}

		// North has cart but does not export it: west never reaches north's. Then both
		// export it, and only north's has port 81.
		export("east", "cart")
		importFrom(t, ctx, e, "cart", "east")
		onlyFrom(cart, "east", 10)
		export("north", "cart")
		importFrom(t, ctx, e, "cart", "east", "north")
		if out, err := e.kubectl(ctx, "west", "", "-n", "shop", "get", "serviceimport", "cart", "-o", "jsonpath={.spec.ports[*].port}"); err != nil || out != "80 81" {
			t.Errorf("west's ServiceImport cart has the ports %q (%v), want the union 80 81", out, err)
		}
		onlyFrom(cart81, "north", 10)
		unexport("east", "cart")
		importFrom(t, ctx, e, "cart", "north")
		onlyFrom(cart, "north", 10)
		unexport("north", "cart")
		importFrom(t, ctx, e, "cart")

		// Bad exports, each with the condition that says why.
		long := strings.Repeat("l", 60) // a valid Service name; its derived "-clusterset" is not
		e.apply(t, ctx, "east", fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: shop}\nspec:\n  ports: [{port: 80}]\n", long))
		for _, c := range []struct{ name, reason string }{
			{"missing", "NoService"},
			{long, "NameTooLong"},
		} {
			export("east", c.name)
			exportCondition(t, ctx, e, "east", c.name, "Valid", "False", c.reason)
		}
		importFrom(t, ctx, e, "missing")
		importFrom(t, ctx, e, long)

		// One name, two types: east exports first, so east's ClusterSetIP type wins, and
		// west's headless export says what it disagrees on. Creation times are in seconds and
		// a tie goes to the cluster whose name sorts first (KEP-1645): east, whichever second
		// west's export lands in.
		e.apply(t, ctx, "east", "apiVersion: v1\nkind: Service\nmetadata: {name: mixed, namespace: shop}\nspec:\n  ports: [{port: 80}]\n")
		export("east", "mixed")
		exportCondition(t, ctx, e, "east", "mixed", "Valid", "True", "")
		e.apply(t, ctx, "west", "apiVersion: v1\nkind: Service\nmetadata: {name: mixed, namespace: shop}\nspec:\n  clusterIP: None\n  ports: [{port: 80}]\n")
		export("west", "mixed")
		exportCondition(t, ctx, e, "west", "mixed", "Conflict", "True", "TypeConflict")
		if out, err := e.kubectl(ctx, "west", "", "-n", "shop", "get", "serviceimport", "mixed", "-o", "jsonpath={.spec.type}"); err != nil || out != "ClusterSetIP" {
			t.Errorf("west's ServiceImport mixed has type %q (%v), want the oldest export's ClusterSetIP", out, err)
		}
		for _, c := range []string{"west", "east"} {
			unexport(c, "mixed")
		}
		importFrom(t, ctx, e, "mixed")
	})

	t.Run("an unmeshed pod in west calling a clusterset service is sent to west's member by kube-proxy, never to east's gateway, which would refuse it", func(t *testing.T) {
		e.apply(t, ctx, "west", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: unmeshed, namespace: shop, annotations: {meshfed.io/inject: disabled}}
spec:
  containers:
  - {name: echo, image: %s, imagePullPolicy: IfNotPresent, args: [serve]}
`, build.RepoImage("echo")))
		for _, c := range []string{"west", "east"} {
			e.apply(t, ctx, c, "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: api, namespace: shop}\n")
		}
		importFrom(t, ctx, e, "api", "east", "west")
		if _, err := e.kubectl(ctx, "west", "", "-n", "shop", "wait", "--for=condition=Ready", "pod/unmeshed", "--timeout=90s"); err != nil {
			t.Fatal(err)
		}
		westAPI := podNames(ctx, t, e, "west", "shop", "app=api")
		// kube-proxy picks among the endpoints at random: with east's gateway among them, 20
		// calls in a row would not all reach west.
		eventually(t, 60*time.Second, "20 calls in a row from west's unmeshed pod to api.shop.svc.clusterset.local to be answered by west's api "+strings.Join(westAPI, ", "), func() error {
			for range 20 {
				out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "unmeshed", "--", echoBin, "get", "--timeout=3s", "http://api.shop.svc.clusterset.local/")
				if err != nil {
					return err
				}
				if got := strings.TrimPrefix(strings.TrimSpace(out), "echo "); !slices.Contains(westAPI, got) {
					return fmt.Errorf("answered %q", out)
				}
			}
			return nil
		})
		for _, c := range []string{"west", "east"} {
			if _, err := e.kubectl(ctx, c, "", "-n", "shop", "delete", "serviceexport", "api"); err != nil {
				t.Fatal(err)
			}
		}
		importFrom(t, ctx, e, "api")
		// The rotation below reads the proxy of every pod in shop: this one has none.
		if _, err := e.kubectl(ctx, "west", "", "-n", "shop", "delete", "pod", "unmeshed", "--grace-period=1", "--wait=true", "--timeout=60s"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unlink north and revoke west's credentials there: north takes no traffic, the credentials stop working", func(t *testing.T) {
		secret, err := west.CoreV1().Secrets("mesh-multicluster").Get(ctx, "cluster-credentials-north", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kubeconfig := filepath.Join(t.TempDir(), "north-as-west")
		if err := os.WriteFile(kubeconfig, secret.Data["kubeconfig"], 0o600); err != nil {
			t.Fatal(err)
		}
		asWest := func() error {
			_, err := e.kubectl(ctx, "north", "", "--kubeconfig", kubeconfig, "--context", "north", "get", "services", "-A")
			return err
		}
		if err := asWest(); err != nil {
			t.Fatalf("west's credentials for north do not work before the revocation: %v", err)
		}
		if _, err := e.kubectl(ctx, "west", e.mesh(t, ctx, "west", "multicluster", "unlink", "--cluster-name", "north"), "delete", "--ignore-not-found", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		// --ignore-not-found: the token controller deletes the token Secret with its
		// ServiceAccount, before kubectl comes to it.
		if _, err := e.kubectl(ctx, "north", e.mesh(t, ctx, "north", "multicluster", "allow", "--peer", "west"), "delete", "--ignore-not-found", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "west's credentials for north to be refused", func() error {
			err := asWest()
			if err == nil {
				return fmt.Errorf("still accepted")
			}
			if !strings.Contains(err.Error(), "Unauthorized") && !strings.Contains(err.Error(), "must be logged in") {
				return fmt.Errorf("refused, but not as unauthorized: %v", err)
			}
			return nil
		})
		eventually(t, 30*time.Second, "west to hold nothing of north", func() error {
			l, err := west.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{LabelSelector: "mirror.meshfed.io/cluster-name=north"})
			if err != nil {
				return err
			}
			if len(l.Items) > 0 {
				return fmt.Errorf("%d EndpointSlices of north left, such as %s/%s", len(l.Items), l.Items[0].Namespace, l.Items[0].Name)
			}
			return nil
		})
		// With west's api down, api-federated fails over to east alone: north is no longer
		// a member anywhere west can see.
		if _, err := e.kubectl(ctx, "west", "", "-n", "shop", "scale", "deployment/api", "--replicas=0"); err != nil {
			t.Fatal(err)
		}
		pods := map[string][]string{}
		for _, c := range []string{"west", "east", "north"} {
			pods[c] = podNames(ctx, t, e, c, "shop", "app=api")
		}
		eventually(t, 60*time.Second, "api-federated to answer from east only", func() error {
			for i := 0; i < 6; i++ {
				got, err := answeredBy(ctx, e, "http://api-federated.shop.svc.cluster.local/", pods)
				if err != nil {
					return err
				}
				if got != "east" {
					return fmt.Errorf("answered from %s", got)
				}
			}
			return nil
		})
	})

	t.Run("an anchor rotation across the federation, with traffic flowing, fails no call", func(t *testing.T) {
		rotateAnchor(t, ctx, e, anchorDir, []string{"west", "east", "north"})
	})

}

// importFrom waits until west's ServiceImport shop/name lists clusters, in order, or is gone
// when there are none.
func importFrom(t *testing.T, ctx context.Context, e *env, name string, clusters ...string) {
	t.Helper()
	want := strings.Join(clusters, " ")
	desc := fmt.Sprintf("west's ServiceImport shop/%s to list the clusters [%s]", name, want)
	if len(clusters) == 0 {
		desc = fmt.Sprintf("west to have no ServiceImport shop/%s", name)
	}
	eventually(t, 60*time.Second, desc, func() error {
		out, err := e.kubectl(ctx, "west", "", "-n", "shop", "get", "serviceimport", name, "-o", "jsonpath={.status.clusters[*].cluster}")
		switch {
		case err != nil && strings.Contains(err.Error(), "NotFound") && len(clusters) == 0:
			return nil
		case err != nil:
			return err
		case len(clusters) == 0:
			return fmt.Errorf("still there, from %q", out)
		case out != want:
			return fmt.Errorf("it lists %q", out)
		}
		return nil
	})
}

// exportCondition waits until a cluster's ServiceExport shop/name has the condition of type
// cond with status, and reason unless that is "".
func exportCondition(t *testing.T, ctx context.Context, e *env, cluster, name, cond, status, reason string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%s's ServiceExport shop/%s to say %s=%s %s", cluster, name, cond, status, reason), func() error {
		out, err := e.kubectl(ctx, cluster, "", "-n", "shop", "get", "serviceexport", name, "-o",
			fmt.Sprintf(`jsonpath={.status.conditions[?(@.type==%q)].status} {.status.conditions[?(@.type==%q)].reason}: {.status.conditions[?(@.type==%q)].message}`, cond, cond, cond))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(out, status+" ") || (reason != "" && !strings.HasPrefix(out, status+" "+reason+":")) {
			return fmt.Errorf("it says %q", out)
		}
		return nil
	})
}

// answeredBy calls url from west's front and says which cluster's pod answered: the echo
// server answers with its pod's name, and pods holds each cluster's pod names.
func answeredBy(ctx context.Context, e *env, url string, pods map[string][]string) (string, error) {
	out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin, "get", "--timeout=3s", url)
	if err != nil {
		return "", err
	}
	for cluster, names := range pods {
		for _, n := range names {
			if strings.TrimSpace(out) == "echo "+n {
				return cluster, nil
			}
		}
	}
	return "", fmt.Errorf("answered %q, which is no pod of %v", out, pods)
}

func podNames(ctx context.Context, t *testing.T, e *env, cluster, ns, selector string) []string {
	t.Helper()
	pods, err := e.client(t, cluster).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name)
	}
	return out
}

// gatewaysSay checks what mesh multicluster gateways says of east in west: alive as wanted,
// and a gossip round trip or none.
func gatewaysSay(ctx context.Context, e *env, alive string, latency bool) error {
	out, err := e.meshErr(ctx, "west", "", "multicluster", "gateways", "-o", "json")
	if err != nil {
		return fmt.Errorf("mesh multicluster gateways: %v\n%s", err, out)
	}
	var gws []struct {
		Cluster string `json:"cluster"`
		Alive   string `json:"alive"`
		RTT     int64  `json:"rttNanoseconds"`
	}
	if err := json.Unmarshal([]byte(out), &gws); err != nil {
		return fmt.Errorf("mesh multicluster gateways -o json: %v\n%s", err, out)
	}
	for _, g := range gws {
		if g.Cluster != "east" {
			continue
		}
		if g.Alive != alive || (g.RTT > 0) != latency {
			return fmt.Errorf("gateways says east alive=%s rtt=%dns; want alive=%s, a latency %v\n%s", g.Alive, g.RTT, alive, latency, out)
		}
		return nil
	}
	return fmt.Errorf("gateways does not list east:\n%s", out)
}

// webPolicy admits only caller to east's web, and the kubelet's plaintext probes.
func webPolicy(t *testing.T, ctx context.Context, e *env, caller string) string {
	t.Helper()
	pods, err := e.client(t, "east").CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("web pods in east: %v", err)
	}
	return fmt.Sprintf(`apiVersion: policy.meshfed.io/v1alpha1
kind: Server
metadata: {name: web-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  port: http
  proxyProtocol: HTTP/1
---
apiVersion: policy.meshfed.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: web-callers, namespace: shop}
spec:
  identities: [%q]
---
apiVersion: policy.meshfed.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web-callers, namespace: shop}
spec:
  targetRef: {kind: Server, name: web-http}
  requiredAuthenticationRefs: [{kind: MeshTLSAuthentication, name: web-callers}]
---
apiVersion: policy.meshfed.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: kubelet, namespace: shop}
spec:
  networks: [{cidr: %q}]
---
apiVersion: policy.meshfed.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: kubelet-probes, namespace: shop}
spec:
  targetRef: {kind: Server, name: web-http}
  requiredAuthenticationRefs: [{kind: NetworkAuthentication, name: kubelet}]
`, caller, kubeletAddress(t, pods.Items[0].Status.PodIP))
}

// awaitGateway waits for a cluster's east-west gateway to be available and its Service to
// have its LoadBalancer address, which mesh multicluster link puts in the Link; it returns
// that address.
func awaitGateway(t *testing.T, ctx context.Context, e *env, cluster string) string {
	t.Helper()
	if _, err := e.kubectl(ctx, cluster, "", "-n", "mesh-multicluster", "wait", "--for=condition=Available", "deployment/mesh-gateway", "--timeout=120s"); err != nil {
		t.Fatal(err)
	}
	return e.awaitLoadBalancer(t, ctx, cluster, "mesh-multicluster", "mesh-gateway")
}

// installMesh does what a user does to give clusters the mesh with one anchor: the anchor,
// each cluster's issuer through cert-manager, the CRDs and the control plane.
// It returns the folder of the anchor, for a rotation.
func installMesh(t *testing.T, ctx context.Context, e *env, clusters ...string) string {
	t.Helper()
	return installMeshWith(t, ctx, e, nil, clusters...)
}

// installMeshWith is installMesh with more flags for mesh install.
func installMeshWith(t *testing.T, ctx context.Context, e *env, installFlags []string, clusters ...string) string {
	t.Helper()
	anchorDir := t.TempDir()
	e.mesh(t, ctx, clusters[0], "trust", "anchor", "--out", anchorDir)
	for _, c := range clusters {
		trustYAML := e.mesh(t, ctx, c, "trust", "cluster", "--anchor", anchorDir, "--cluster", c, "--cert-manager")
		eventually(t, 60*time.Second, "cert-manager's webhook to accept the issuer's Certificate in "+c, func() error {
			_, err := e.kubectl(ctx, c, trustYAML, "apply", "-f", "-")
			return err
		})
		e.apply(t, ctx, c, e.mesh(t, ctx, c, "install", "--crds"))
		installYAML := e.mesh(t, ctx, c, append([]string{"install", "--cluster-name", c, "--identity-external-issuer"}, installFlags...)...)
		eventually(t, 60*time.Second, "the control plane to apply in "+c+" (its Certificates wait on cert-manager's webhook)", func() error {
			_, err := e.kubectl(ctx, c, installYAML, "apply", "-f", "-")
			return err
		})
	}
	return anchorDir
}

// linkGateway checks west's Link to east says the gateway's liveness as wanted.
func linkGateway(ctx context.Context, e *env, status metav1.ConditionStatus, reason string) error {
	out, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "get", "link", "east",
		"-o", `jsonpath={.status.conditions[?(@.type=="GatewayAlive")].status} {.status.conditions[?(@.type=="GatewayAlive")].reason}`)
	if err != nil {
		return err
	}
	if want := string(status) + " " + reason; strings.TrimSpace(out) != want {
		return fmt.Errorf("the Link says GatewayAlive %q, want %q", out, want)
	}
	return nil
}

// readyAt checks that a mirror has one endpoint, at the gateway ip, ready or not as wanted.
func readyAt(eps []discoveryv1.Endpoint, ip string, ready bool) error {
	if len(eps) != 1 || len(eps[0].Addresses) == 0 || eps[0].Addresses[0] != ip {
		return fmt.Errorf("endpoints %v, want one at the gateway %s", eps, ip)
	}
	if got := eps[0].Conditions.Ready != nil && *eps[0].Conditions.Ready; got != ready {
		return fmt.Errorf("the gateway endpoint is ready=%v, want %v", got, ready)
	}
	return nil
}

// TestFlatMesh joins west and east in flat mode, as a user does with the CLI and kubectl:
// pods reach pods across the clusters and there is no gateway. A west workload calls east's
// Service exported for remote discovery; its proxy calls the east pod directly over mTLS,
// demanding the pod's own identity, and east's proxy sees the west caller's.
func TestFlatMesh(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west", "east"}, Flat: true})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	west, east := e.client(t, "west"), e.client(t, "east")

	installMesh(t, ctx, e, "west", "east")
	for _, c := range []string{"west", "east"} {
		if out, err := e.meshErr(ctx, c, "", "check", "--wait", "3m"); err != nil {
			t.Fatalf("mesh check in %s: %v\n%s", c, err, out)
		}
		e.apply(t, ctx, c, e.mesh(t, ctx, c, "multicluster", "install", "--gateway=false"))
	}
	if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=Available", "deployment/link-controller", "--timeout=120s"); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ctx, "east", meshedShop+"---\n"+strings.Replace(fedApp("web", true), `mirror.meshfed.io/exported: "true"`, `mirror.meshfed.io/exported: remote-discovery`, 1))
	e.apply(t, ctx, "west", meshedShop+"---\n"+fedApp("front", false))
	for c, d := range map[string]string{"east": "web", "west": "front"} {
		if _, err := e.kubectl(ctx, c, "", "-n", "shop", "rollout", "status", "deployment/"+d, "--timeout=180s"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "every shop pod in "+c+" meshed and ready", func() error {
			return podsMeshedAndReady(ctx, e.client(t, c), "shop")
		})
	}
	// No gateway: the Link names no address to probe, and the mirror is the pods'.
	e.apply(t, ctx, "west", e.mesh(t, ctx, "east", "multicluster", "link", "--cluster-name", "east",
		"--gateway-addresses", gatewayAddress, "--gateway-probe=false"))
	if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=Ready", "link/east", "--timeout=90s"); err != nil {
		t.Fatal(err)
	}
	pods, err := east.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("east's web pods: %v (%d)", err, len(pods.Items))
	}
	webPod := pods.Items[0]
	mirrorEndpoints(t, ctx, west, "shop", "web-east", func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
		if len(eps) != 1 || eps[0].Addresses[0] != webPod.Status.PodIP {
			return fmt.Errorf("endpoints %v, want east's web pod at %s", eps, webPod.Status.PodIP)
		}
		return nil
	})

	t.Run("west's front calls web-east, pod to pod over mTLS, each side proving its own identity", func(t *testing.T) {
		url := "http://web-east.shop.svc.cluster.local/"
		eventually(t, 60*time.Second, "west's front to get an answer from east's web at "+url, func() error {
			out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin, "get", "--timeout=3s", url)
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) != "echo "+webPod.Name {
				return fmt.Errorf("answered %q, want echo %s", out, webPod.Name)
			}
			return nil
		})
		eventually(t, 30*time.Second, "west front's proxy to count an mTLS request to east's web, by its identity",
			mTLSRequestSeen(ctx, west, "shop", "app=front", "outbound", `server_id="spiffe://east.meshfed.local/ns/shop/sa/web"`))
		eventually(t, 30*time.Second, "east web's proxy to count an mTLS request from west's front",
			mTLSRequestSeen(ctx, east, "shop", "app=web", "inbound", `client_id="spiffe://west.meshfed.local/ns/shop/sa/front"`))
	})
}
