//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/multicluster-e2e/provider"
)

// TestMesh installs one cluster's mesh and the demo app the way a user does, with the CLI
// and kubectl only, and checks what a user would: mesh check passes, every demo pod runs its
// proxy, and the proxies say the demo's traffic is mTLS between the right identities.
func TestMesh(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	west := e.client(t, "west")

	// The injector's certificate made by mesh install, not cert-manager: the other suites
	// install the default way.
	installMeshWith(t, ctx, e, []string{"--injector-certificate=install"}, "west")

	t.Run("mesh check passes once the control plane is up", func(t *testing.T) {
		if out, err := e.meshErr(ctx, "west", "", "check", "--wait", "3m"); err != nil {
			t.Fatalf("mesh check: %v\n%s", err, out)
		}
	})

	demo := e.mesh(t, ctx, "west", "demo", "install")
	e.apply(t, ctx, "west", demo)
	deploys, err := e.kubectl(ctx, "west", "", "-n", "meshfed-demo", "get", "deploy", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	injected, err := e.meshErr(ctx, "west", deploys, "inject", "--cluster-name", "west", "-")
	if err != nil {
		t.Fatalf("mesh inject: %v", err)
	}
	e.apply(t, ctx, "west", injected)

	t.Run("every demo pod runs its proxy and is ready", func(t *testing.T) {
		for _, d := range []string{"web", "emoji", "voting", "vote-bot"} {
			if _, err := e.kubectl(ctx, "west", "", "-n", "meshfed-demo", "rollout", "status", "deployment/"+d, "--timeout=180s"); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 60*time.Second, "every demo pod 2/2 ready with a proxy", func() error {
			return podsMeshedAndReady(ctx, west, "meshfed-demo")
		})
		if out, err := e.meshErr(ctx, "west", "", "check", "--proxy", "-n", "meshfed-demo"); err != nil {
			t.Fatalf("mesh check --proxy: %v\n%s", err, out)
		}
	})

	t.Run("the proxies see the demo's traffic as mTLS between the right identities", func(t *testing.T) {
		for _, tt := range []struct{ server, client string }{
			{"web", "vote-bot"},
			{"voting", "web"},
		} {
			want := fmt.Sprintf(`client_id="spiffe://west.meshfed.local/ns/meshfed-demo/sa/%s"`, tt.client)
			eventually(t, 90*time.Second, tt.server+"'s proxy counting requests from "+tt.client,
				mTLSRequestSeen(ctx, west, "meshfed-demo", "app="+tt.server, "inbound", want))
			// And the client's proxy says which identity the server proved.
			wantServer := fmt.Sprintf(`server_id="spiffe://west.meshfed.local/ns/meshfed-demo/sa/%s"`, tt.server)
			eventually(t, 90*time.Second, tt.client+"'s proxy counting requests to "+tt.server,
				mTLSRequestSeen(ctx, west, "meshfed-demo", "app="+tt.client, "outbound", wantServer))
		}
	})

	t.Run("policy: voting refuses web until an AuthorizationPolicy names it", func(t *testing.T) {
		// The kubelet's plaintext probes are let in by their own policy.
		pods, err := west.CoreV1().Pods("meshfed-demo").List(ctx, metav1.ListOptions{LabelSelector: "app=voting"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("voting pods: %v", err)
		}
		probes := kubeletAddress(t, pods.Items[0].Status.PodIP)
		policyYAML := func(caller string) string {
			return fmt.Sprintf(`apiVersion: policy.meshfed.io/v1alpha1
kind: Server
metadata: {name: voting-grpc, namespace: meshfed-demo}
spec:
  podSelector: {matchLabels: {app: voting}}
  port: grpc
  proxyProtocol: gRPC
---
apiVersion: policy.meshfed.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: voting-callers, namespace: meshfed-demo}
spec:
  identities: ["spiffe://west.meshfed.local/ns/meshfed-demo/sa/%s"]
---
apiVersion: policy.meshfed.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: voting-callers, namespace: meshfed-demo}
spec:
  targetRef: {kind: Server, name: voting-grpc}
  requiredAuthenticationRefs: [{kind: MeshTLSAuthentication, name: voting-callers}]
---
apiVersion: policy.meshfed.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: kubelet, namespace: meshfed-demo}
spec:
  networks: [{cidr: %q}]
---
apiVersion: policy.meshfed.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: probes, namespace: meshfed-demo}
spec:
  targetRef: {kind: Server, name: voting-grpc}
  requiredAuthenticationRefs: [{kind: NetworkAuthentication, name: kubelet}]
`, caller, probes)
		}
		webID := `client_id="spiffe://west.meshfed.local/ns/meshfed-demo/sa/web"`
		e.apply(t, ctx, "west", policyYAML("vote-bot"))
		eventually(t, 60*time.Second, "voting's proxies to refuse web", func() error {
			m, err := proxyMetrics(ctx, west, "meshfed-demo", "app=voting")
			if err != nil {
				return err
			}
			for _, l := range strings.Split(m, "\n") {
				if strings.HasPrefix(l, "meshfed_proxy_inbound_denied_total{") && strings.Contains(l, webID) {
					return nil
				}
			}
			return fmt.Errorf("no denial of web yet:\n%s", grep(m, "meshfed_proxy_inbound_denied_total"))
		})
		e.apply(t, ctx, "west", policyYAML("web"))
		before := countOK(t, ctx, west, webID)
		eventually(t, 60*time.Second, "voting's proxies to let web in again", func() error {
			if n := countOK(t, ctx, west, webID); n <= before {
				return fmt.Errorf("%v requests from web served, as before the change", n)
			}
			return nil
		})
	})

	t.Run("scaling voting down and up reaches web's proxy", func(t *testing.T) {
		const target = `target="voting.meshfed-demo.svc.cluster.local:8080"`
		webHolds := func(want int) func() error {
			return func() error {
				m, err := proxyMetrics(ctx, west, "meshfed-demo", "app=web")
				if err != nil {
					return err
				}
				for _, l := range strings.Split(m, "\n") {
					if strings.HasPrefix(l, "meshfed_proxy_destination_endpoints{") && strings.Contains(l, target) {
						if got := l[strings.LastIndex(l, " ")+1:]; got != fmt.Sprint(want) {
							return fmt.Errorf("web's proxy holds %s endpoints of voting", got)
						}
						return nil
					}
				}
				return fmt.Errorf("web's proxy does not follow voting:\n%s", grep(m, "meshfed_proxy_destination_endpoints"))
			}
		}
		for _, replicas := range []int{0, 3, 2} {
			start := time.Now()
			if _, err := e.kubectl(ctx, "west", "", "-n", "meshfed-demo", "scale", "deployment/voting", fmt.Sprintf("--replicas=%d", replicas)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 120*time.Second, fmt.Sprintf("web's proxy to hold %d endpoints of voting", replicas), webHolds(replicas))
			t.Logf("voting scaled to %d: web's proxy holds them %s after kubectl scale (pod start and readiness included)", replicas, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("mesh check fails with the hint when a component is scaled to 0", func(t *testing.T) {
		for _, tt := range []struct{ deployment, want string }{
			{"meshfed-identity", "meshfed-identity is scaled to 0"},
			{"meshfed-injector", "the Service mesh-system/meshfed-injector has no ready endpoint"},
		} {
			if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-system", "scale", "deployment/"+tt.deployment, "--replicas=0"); err != nil {
				t.Fatal(err)
			}
			// The endpoint leaves once the pod is gone: until then the check may pass.
			eventually(t, 60*time.Second, "mesh check to fail saying "+tt.want, func() error {
				out, err := e.meshErr(ctx, "west", "", "check")
				if err == nil || !strings.Contains(out, tt.want) {
					return fmt.Errorf("mesh check with %s at 0: %v\n%s", tt.deployment, err, out)
				}
				return nil
			})
			if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-system", "scale", "deployment/"+tt.deployment, "--replicas=1"); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := e.meshErr(ctx, "west", "", "check", "--wait", "2m"); err != nil {
			t.Fatalf("mesh check once both are back: %v\n%s", err, out)
		}
	})

	t.Run("mesh uninstall removes the control plane", func(t *testing.T) {
		if _, err := e.kubectl(ctx, "west", e.mesh(t, ctx, "west", "uninstall"), "delete", "--ignore-not-found", "--wait=false", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "the control plane's Deployments and webhook to be gone", func() error {
			d, err := west.AppsV1().Deployments("mesh-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=meshfed"})
			if err != nil {
				return err
			}
			if len(d.Items) > 0 {
				return fmt.Errorf("%d Deployments left", len(d.Items))
			}
			if _, err := west.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "meshfed-injector", metav1.GetOptions{}); err == nil {
				return fmt.Errorf("the webhook is still there")
			}
			return nil
		})
	})
}

// meshErr runs the mesh CLI with stdin and returns what it printed on both streams and its
// error, for commands expected to fail.
func (e *env) meshErr(ctx context.Context, cluster, stdin string, args ...string) (string, error) {
	dir, err := e.builder.Repo(ctx, "./cmd/mesh")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "mesh"), append([]string{"--kubeconfig", e.p.Kubeconfig(), "--context", cluster}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), err
	}
	return out.String(), nil
}

func podsMeshedAndReady(ctx context.Context, c kubernetes.Interface, ns string) error {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		proxy := false
		for _, s := range p.Status.InitContainerStatuses {
			if s.Name == "meshfed-proxy" {
				proxy = s.Ready
			}
		}
		if !proxy {
			return fmt.Errorf("pod %s has no ready meshfed-proxy", p.Name)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionTrue {
				return fmt.Errorf("pod %s is not ready", p.Name)
			}
		}
	}
	return nil
}

// proxyMetrics reads the metrics of the proxies of the pods selected, through the apiserver's
// pod proxy, as `kubectl get --raw` does.
func proxyMetrics(ctx context.Context, c kubernetes.Interface, ns, selector string) (string, error) {
	each, err := podMetrics(ctx, c, ns, selector, "4191")
	if err != nil {
		return "", err
	}
	var all strings.Builder
	for _, m := range each {
		all.WriteString(m)
	}
	return all.String(), nil
}

// podMetrics reads /metrics on port of each running pod selected, by pod name.
func podMetrics(ctx context.Context, c kubernetes.Interface, ns, selector, port string) (map[string]string, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			// A pod of the rollout on its way out: the apiserver would wait out its dial.
			continue
		}
		b, err := c.CoreV1().Pods(ns).ProxyGet("http", p.Name, port, "/metrics", nil).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics of %s: %w", p.Name, err)
		}
		out[p.Name] = string(b)
	}
	return out, nil
}

// mTLSRequestSeen is a condition for eventually: the proxies of the pods selector selects
// in ns count a request answered 200 over mTLS in direction, its labels holding label (such
// as client_id="spiffe://...").
func mTLSRequestSeen(ctx context.Context, c kubernetes.Interface, ns, selector, direction, label string) func() error {
	return func() error {
		m, err := proxyMetrics(ctx, c, ns, selector)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "meshfed_proxy_requests_total{") && strings.Contains(l, `direction="`+direction+`"`) &&
				strings.Contains(l, label) && strings.Contains(l, `tls="true"`) && strings.Contains(l, `status_code="200"`) {
				return nil
			}
		}
		return fmt.Errorf("no %s mTLS request with %s from the proxies of %s in:\n%s", direction, label, selector, grep(m, "meshfed_proxy_requests_total"))
	}
}

// countOK sums the requests from client that voting's proxies served with 200.
func countOK(t *testing.T, ctx context.Context, c kubernetes.Interface, client string) float64 {
	t.Helper()
	m, err := proxyMetrics(ctx, c, "meshfed-demo", "app=voting")
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "meshfed_proxy_requests_total{") && strings.Contains(l, client) && strings.Contains(l, `status_code="200"`) {
			var v float64
			fmt.Sscanf(l[strings.LastIndex(l, " ")+1:], "%g", &v)
			total += v
		}
	}
	return total
}

func grep(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// kubeletAddress is where the kubelet's plaintext probes of the pod at podIP come from, as a
// /32: the node's address on the pod bridge, the first of the pod range (a /20 in the local
// clusters, the CNI bridge its gateway).
func kubeletAddress(t *testing.T, podIP string) string {
	t.Helper()
	ip, err := netip.ParseAddr(podIP)
	if err != nil {
		t.Fatalf("pod IP %q: %v", podIP, err)
	}
	return netip.PrefixFrom(ip, 20).Masked().Addr().Next().String() + "/32"
}
