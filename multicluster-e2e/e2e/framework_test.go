//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/kind"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
)

// The provider is chosen on the command line; CI runs the local one.
var (
	providerFlag  = flag.String("provider", "local", "what runs the clusters: local (Linux namespaces, needs root) or kind (needs Docker and kind; see the README)")
	kindNodeImage = flag.String("kind-node-image", kind.DefaultNodeImage, "the kindest/node image of the kind clusters, with -provider=kind")
)

// env is a set of running clusters and the means to talk to them.
type env struct {
	p provider.Provider
	// local or kind is set, as the provider is: what only one of them does goes through them.
	local      *local.Provider
	kind       *kind.Provider
	builder    *build.Builder
	kubectlBin string
}

// up brings clusters up for one test and takes them down after it, checking that nothing of
// the run is left.
func up(t *testing.T, opts provider.Options) *env {
	t.Helper()
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{builder: b}
	switch *providerFlag {
	case "local":
		if os.Geteuid() != 0 {
			t.Fatal("the e2e suite needs root on local clusters: run it as root (make test does), or pass -provider=kind")
		}
		e.local = local.New("", b, os.Stderr)
		e.p = e.local
	case "kind":
		e.kind = kind.New("", b, os.Stderr)
		e.kind.NodeImage = *kindNodeImage
		e.p = e.kind
	default:
		t.Fatalf("-provider=%s: want local or kind", *providerFlag)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := e.p.Up(ctx, opts); err != nil {
		t.Fatalf("clusters up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			e.dumpLogs(t, ctx, opts.Clusters)
		}
		if err := e.p.Down(ctx); err != nil {
			t.Errorf("clusters down: %v", err)
		}
		e.assertNothingLeft(t, ctx)
	})
	if e.local != nil {
		e.kubectlBin, err = e.local.Kubectl(ctx)
	} else {
		e.kubectlBin, err = e.kind.Kubectl(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// nodeName is the name of the one node of cluster: the cluster's own on local clusters, the
// one kind derives from it on kind.
func (e *env) nodeName(cluster string) string {
	if e.kind != nil {
		return kind.NodeName(cluster)
	}
	return cluster
}

// kubernetesVersion is the version the nodes run: the one built for local clusters, the node
// image's on kind (empty when its tag does not say).
func (e *env) kubernetesVersion() string {
	if e.kind != nil {
		return e.kind.KubernetesVersion()
	}
	return build.KubernetesVersion
}

// stopComponent stops a control-plane component of a cluster's node until startComponent.
func (e *env) stopComponent(ctx context.Context, cluster, component string) error {
	if e.kind != nil {
		return e.kind.StopComponent(ctx, cluster, component)
	}
	return e.local.StopComponent(cluster, component)
}

func (e *env) startComponent(ctx context.Context, cluster, component string) error {
	if e.kind != nil {
		return e.kind.StartComponent(ctx, cluster, component)
	}
	return e.local.StartComponent(cluster, component)
}

func (e *env) client(t *testing.T, cluster string) kubernetes.Interface {
	t.Helper()
	cfg, err := provider.RESTConfig(e.p.Kubeconfig(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awaitLoadBalancer waits for a Service in cluster to have its LoadBalancer address, from
// MetalLB, and returns it.
func (e *env) awaitLoadBalancer(t *testing.T, ctx context.Context, cluster, namespace, name string) string {
	t.Helper()
	c := e.client(t, cluster)
	var ip string
	eventually(t, 60*time.Second, fmt.Sprintf("Service %s/%s in %s to get a LoadBalancer address", namespace, name, cluster), func() error {
		svc, err := c.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return fmt.Errorf("no LoadBalancer address yet")
		}
		ip = svc.Status.LoadBalancer.Ingress[0].IP
		return nil
	})
	return ip
}

// kubectl runs kubectl against one cluster, as a user would.
func (e *env) kubectl(ctx context.Context, cluster string, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.kubectlBin, append([]string{"--kubeconfig", e.p.Kubeconfig(), "--context", cluster}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

var eventually = testenv.Eventually

// dumpLogs shows what a failed test needs to find out why: the tail of every component's log
// on local clusters, where `kind export logs` put them on kind.
func (e *env) dumpLogs(t *testing.T, ctx context.Context, clusters []string) {
	if e.kind != nil {
		dir, err := os.MkdirTemp("", "meshfed-kind-logs-")
		if err != nil {
			t.Logf("no folder for the clusters' logs: %v", err)
			return
		}
		if err := e.kind.ExportLogs(ctx, dir, clusters...); err != nil {
			t.Logf("exporting the clusters' logs: %v", err)
		}
		t.Logf("the kind clusters' logs are in %s", dir)
		return
	}
	for _, c := range clusters {
		for _, comp := range []string{"node", "kube-apiserver", "kubelet", "containerd", "kube-proxy", "kube-controller-manager"} {
			path := local.DefaultRoot + "/" + c + "/logs/" + comp + ".log"
			data, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			t.Logf("--- %s (last lines)\n%s", path, strings.Join(lines, "\n"))
		}
	}
}

// assertNothingLeft checks what a user would look for after down: on local clusters no node
// process, network link, cgroup, mount or file of the run; on kind no cluster of the suite's.
func (e *env) assertNothingLeft(t *testing.T, ctx context.Context) {
	t.Helper()
	if e.kind != nil {
		if left, err := e.kind.Clusters(ctx); err != nil || len(left) > 0 {
			t.Errorf("after down, kind clusters %v are left (%v)", left, err)
		}
		return
	}
	if left, _ := local.Leftovers(local.DefaultRoot); len(left) > 0 {
		t.Errorf("after down, the run left:\n  %s", strings.Join(left, "\n  "))
	}
}
