//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// gatewayAddress stands for east's gateway until the gateway exists: mirrors point at it.
const gatewayAddress = "198.18.0.250"

// mesh runs the mesh CLI against one cluster and returns what it printed.
func (e *env) mesh(t *testing.T, ctx context.Context, cluster string, args ...string) string {
	t.Helper()
	dir, err := e.builder.Repo(ctx, "./cmd/mesh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "mesh"), append([]string{"--kubeconfig", e.p.Kubeconfig(), "--context", cluster}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mesh %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

func (e *env) apply(t *testing.T, ctx context.Context, cluster, manifest string) {
	t.Helper()
	if _, err := e.kubectl(ctx, cluster, manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// exportedService is a Service of east's echo pods, labelled exported=export unless export
// is empty.
func exportedService(name, ns, export string, port int) string {
	labels := "{app: echo}"
	if export != "" {
		labels = fmt.Sprintf("{app: echo, mirror.meshfed.io/exported: %q}", export)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
  labels: %s
spec:
  selector: {app: echo}
  ports: [{name: http, port: %d, targetPort: 8080}]
`, name, ns, labels, port)
}

// mirrorEndpoints waits until west has the mirror of east's name and check accepts its
// endpoints.
func mirrorEndpoints(t *testing.T, ctx context.Context, west kubernetes.Interface, ns, mirror string, check func([]discoveryv1.Endpoint, *corev1.Service) error) {
	t.Helper()
	eventually(t, 30*time.Second, "mirror "+ns+"/"+mirror+" in west", func() error {
		svc, err := west.CoreV1().Services(ns).Get(ctx, mirror, metav1.GetOptions{})
		if err != nil {
			return err
		}
		slices, err := west.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + mirror})
		if err != nil {
			return err
		}
		var eps []discoveryv1.Endpoint
		for _, s := range slices.Items {
			eps = append(eps, s.Endpoints...)
		}
		return check(eps, svc)
	})
}

func atGateway(ready bool) func([]discoveryv1.Endpoint, *corev1.Service) error {
	return func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
		if len(eps) != 1 || eps[0].Addresses[0] != gatewayAddress {
			return fmt.Errorf("endpoints %v, want the gateway %s", eps, gatewayAddress)
		}
		if got := eps[0].Conditions.Ready != nil && *eps[0].Conditions.Ready; got != ready {
			return fmt.Errorf("gateway endpoint ready=%v, want %v", got, ready)
		}
		return nil
	}
}

func awaitGone(t *testing.T, ctx context.Context, west kubernetes.Interface, ns, name string) {
	t.Helper()
	eventually(t, 30*time.Second, "mirror "+ns+"/"+name+" to go from west", func() error {
		_, err := west.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// TestLink links west to east with the CLI and kubectl only, and checks that what east
// exports appears in west, follows every change, survives east's apiserver stopping and the
// controller dying, and goes with unlink.
func TestLink(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west", "east"}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	west, east := e.client(t, "west"), e.client(t, "east")

	for _, c := range []string{"west", "east"} {
		e.apply(t, ctx, c, e.mesh(t, ctx, c, "multicluster", "install", "--gateway=false"))
	}
	if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=Available", "deployment/link-controller", "--timeout=90s"); err != nil {
		t.Fatal(err)
	}
	e.apply(t, ctx, "west", e.mesh(t, ctx, "east", "multicluster", "link", "--cluster-name", "east",
		"--gateway-addresses", gatewayAddress, "--gateway-probe=false", "--create-missing-namespaces"))
	if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=Ready", "link/east", "--timeout=60s"); err != nil {
		t.Fatal(err)
	}

	deployEcho(t, ctx, e, "west") // its client pod asks west's DNS
	e.apply(t, ctx, "east", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
	e.apply(t, ctx, "east", strings.ReplaceAll(echoApp, "namespace: default", "namespace: shop"))

	t.Run("a Service labelled exported appears in west at the gateway", func(t *testing.T) {
		e.apply(t, ctx, "east", exportedService("web", "shop", "true", 80))
		mirrorEndpoints(t, ctx, west, "shop", "web-east", atGateway(true))
	})

	t.Run("a ServiceExport exports the same way", func(t *testing.T) {
		e.apply(t, ctx, "east", exportedService("api", "shop", "", 80)+
			"---\napiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: api, namespace: shop}\n")
		mirrorEndpoints(t, ctx, west, "shop", "api-east", atGateway(true))
	})

	t.Run("a port change, a relabel, an unexport and a delete are mirrored", func(t *testing.T) {
		e.apply(t, ctx, "east", exportedService("web", "shop", "true", 8081))
		mirrorEndpoints(t, ctx, west, "shop", "web-east", func(_ []discoveryv1.Endpoint, svc *corev1.Service) error {
			if svc.Spec.Ports[0].Port != 8081 {
				return fmt.Errorf("mirror port %d, want 8081", svc.Spec.Ports[0].Port)
			}
			return nil
		})
		if _, err := e.kubectl(ctx, "east", "", "-n", "shop", "label", "service", "web", "tier=front"); err != nil {
			t.Fatal(err)
		}
		mirrorEndpoints(t, ctx, west, "shop", "web-east", func(_ []discoveryv1.Endpoint, svc *corev1.Service) error {
			if svc.Labels["tier"] != "front" {
				return fmt.Errorf("mirror labels %v, want tier=front from east", svc.Labels)
			}
			return nil
		})
		if _, err := e.kubectl(ctx, "east", "", "-n", "shop", "label", "service", "web", "mirror.meshfed.io/exported-"); err != nil {
			t.Fatal(err)
		}
		awaitGone(t, ctx, west, "shop", "web-east")
		if _, err := e.kubectl(ctx, "east", "", "-n", "shop", "delete", "serviceexport", "api"); err != nil {
			t.Fatal(err)
		}
		awaitGone(t, ctx, west, "shop", "api-east")
	})

	t.Run("a headless StatefulSet's pods get their mirrors, and resolve in west", func(t *testing.T) {
		e.apply(t, ctx, "east", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop, labels: {mirror.meshfed.io/exported: "true"}}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: tcp, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: %s, imagePullPolicy: IfNotPresent, args: [serve]}
`, build.RepoImage("echo")))
		if _, err := e.kubectl(ctx, "east", "", "-n", "shop", "rollout", "status", "statefulset/db", "--timeout=90s"); err != nil {
			t.Fatal(err)
		}
		mirrorEndpoints(t, ctx, west, "shop", "db-east", func(eps []discoveryv1.Endpoint, svc *corev1.Service) error {
			if svc.Spec.ClusterIP != corev1.ClusterIPNone {
				return fmt.Errorf("mirror db-east is not headless")
			}
			if len(eps) != 2 {
				return fmt.Errorf("%d endpoints, want one per pod", len(eps))
			}
			return nil
		})
		eventually(t, 30*time.Second, "db-0.db-east.shop.svc.cluster.local to resolve in west", func() error {
			out, err := e.kubectl(ctx, "west", "", "exec", "client", "--", echoBin, "resolve", "db-0.db-east.shop.svc.cluster.local")
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) == "" {
				return fmt.Errorf("no address")
			}
			return nil
		})
	})

	t.Run("exported, the headless db is imported: each of east's pods resolves in clusterset.local at its per-pod mirror", func(t *testing.T) {
		e.apply(t, ctx, "east", "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: db, namespace: shop}\n")
		eventually(t, 60*time.Second, "west's ServiceImport shop/db to be Headless", func() error {
			out, err := e.kubectl(ctx, "west", "", "-n", "shop", "get", "serviceimport", "db", "-o", "jsonpath={.spec.type}")
			if err != nil {
				return err
			}
			if out != "Headless" {
				return fmt.Errorf("type %q", out)
			}
			return nil
		})
		resolve := func(name string) ([]string, error) {
			out, err := e.kubectl(ctx, "west", "", "exec", "client", "--", echoBin, "resolve", name)
			if err != nil {
				return nil, err
			}
			addrs := strings.Fields(out)
			slices.Sort(addrs)
			return addrs, nil
		}
		var all []string
		for _, pod := range []string{"db-0", "db-1"} {
			eventually(t, 30*time.Second, pod+".east.db.shop.svc.clusterset.local to resolve in west as "+pod+".db-east.shop.svc.cluster.local does", func() error {
				want, err := resolve(pod + ".db-east.shop.svc.cluster.local")
				if err != nil {
					return err
				}
				got, err := resolve(pod + ".east.db.shop.svc.clusterset.local")
				if err != nil {
					return err
				}
				if len(want) != 1 || !slices.Equal(got, want) {
					return fmt.Errorf("%v, want %v", got, want)
				}
				all = append(all, want...)
				return nil
			})
		}
		slices.Sort(all)
		eventually(t, 30*time.Second, "db.shop.svc.clusterset.local to resolve in west to both per-pod mirrors "+strings.Join(all, ", "), func() error {
			got, err := resolve("db.shop.svc.clusterset.local")
			if err != nil {
				return err
			}
			if !slices.Equal(got, all) {
				return fmt.Errorf("%v", got)
			}
			return nil
		})
	})

	t.Run("remote-discovery mirrors east's pod addresses", func(t *testing.T) {
		e.apply(t, ctx, "east", exportedService("flat", "shop", "remote-discovery", 80))
		pods, err := east.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, p := range pods.Items {
			want[p.Status.PodIP] = true
		}
		mirrorEndpoints(t, ctx, west, "shop", "flat-east", func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
			got := map[string]bool{}
			for _, ep := range eps {
				got[ep.Addresses[0]] = true
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("endpoints %v, want east's pods %v", got, want)
			}
			return nil
		})
	})

	t.Run("east's apiserver stopped: mirrors stay, not ready, and come back", func(t *testing.T) {
		e.apply(t, ctx, "east", exportedService("pay", "shop", "true", 80))
		mirrorEndpoints(t, ctx, west, "shop", "pay-east", atGateway(true))
		if err := e.stopComponent(ctx, "east", "kube-apiserver"); err != nil {
			t.Fatal(err)
		}
		mirrorEndpoints(t, ctx, west, "shop", "pay-east", atGateway(false))
		if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=RemoteReachable=false", "link/east", "--timeout=30s"); err != nil {
			t.Error(err)
		}
		if err := e.startComponent(ctx, "east", "kube-apiserver"); err != nil {
			t.Fatal(err)
		}
		mirrorEndpoints(t, ctx, west, "shop", "pay-east", atGateway(true))
		mirrorEndpoints(t, ctx, west, "shop", "db-east", func(eps []discoveryv1.Endpoint, _ *corev1.Service) error {
			if len(eps) != 2 {
				return fmt.Errorf("%d endpoints, want 2", len(eps))
			}
			return nil
		})
	})

	t.Run("the remote credentials cannot write anything in east", func(t *testing.T) {
		secret, err := west.CoreV1().Secrets("mesh-multicluster").Get(ctx, "cluster-credentials-east", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kc := filepath.Join(t.TempDir(), "reader")
		if err := os.WriteFile(kc, secret.Data[mcv1alpha1.CredentialsKey], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"create", "configmap", "x", "-n", "shop"},
			{"-n", "shop", "delete", "service", "pay"},
			{"-n", "shop", "get", "secrets"},
		} {
			cmd := exec.CommandContext(ctx, e.kubectlBin, append([]string{"--kubeconfig", kc}, args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "forbidden") {
				t.Errorf("kubectl %s with the Link's credentials: %v %s, want forbidden", strings.Join(args, " "), err, out)
			}
		}
	})

	t.Run("the link controller killed amid 200 changes converges", func(t *testing.T) {
		var many strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&many, "---\n%s", exportedService(fmt.Sprintf("svc-%03d", i), "shop", "true", 80))
		}
		done := make(chan error, 1)
		go func() { _, err := e.kubectl(ctx, "east", many.String(), "apply", "-f", "-"); done <- err }()
		if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "delete", "pod", "-l", "app.kubernetes.io/name=link-controller", "--wait=false"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		countMirrors := func(want int) func() error {
			return func() error {
				svcs, err := west.CoreV1().Services("shop").List(ctx, metav1.ListOptions{LabelSelector: mcv1alpha1.LabelClusterName + "=east," + mcv1alpha1.LabelRemoteName})
				if err != nil {
					return err
				}
				n := 0
				for _, s := range svcs.Items {
					if strings.HasPrefix(s.Name, "svc-") {
						n++
					}
				}
				if n != want {
					return fmt.Errorf("%d mirrors of svc-*, want %d", n, want)
				}
				return nil
			}
		}
		eventually(t, 2*time.Minute, "all 200 exports mirrored in west", countMirrors(200))
		var half []string
		for i := 0; i < 200; i += 2 {
			half = append(half, fmt.Sprintf("svc-%03d", i))
		}
		go func() {
			_, err := e.kubectl(ctx, "east", "", append([]string{"-n", "shop", "delete", "service", "--wait=false"}, half...)...)
			done <- err
		}()
		if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "delete", "pod", "-l", "app.kubernetes.io/name=link-controller", "--wait=false"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "the 100 deleted exports unmirrored", countMirrors(100))
	})

	t.Run("mesh multicluster check passes", func(t *testing.T) {
		eventually(t, 60*time.Second, "check to pass", func() error {
			dir, err := e.builder.Repo(ctx, "./cmd/mesh")
			if err != nil {
				return err
			}
			out, err := exec.CommandContext(ctx, filepath.Join(dir, "mesh"), "--kubeconfig", e.p.Kubeconfig(), "--context", "west", "multicluster", "check").CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			return nil
		})
	})

	t.Run("unlink removes every mirror and the Link", func(t *testing.T) {
		if _, err := e.kubectl(ctx, "west", e.mesh(t, ctx, "west", "multicluster", "unlink", "--cluster-name", "east"), "delete", "-f", "-", "--ignore-not-found"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "no mirror of east left in west", func() error {
			svcs, err := west.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: mcv1alpha1.LabelClusterName + "=east"})
			if err != nil {
				return err
			}
			slices, err := west.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{LabelSelector: mcv1alpha1.LabelClusterName + "=east"})
			if err != nil {
				return err
			}
			if n := len(svcs.Items) + len(slices.Items); n > 0 {
				return fmt.Errorf("%d Services and %d EndpointSlices left", len(svcs.Items), len(slices.Items))
			}
			return nil
		})
		if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "get", "link", "east"); err == nil {
			t.Error("the Link is still there")
		}
	})
}
