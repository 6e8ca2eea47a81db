//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
)

// env is a set of running clusters and the means to talk to them.
type env struct {
	p          *local.Provider
	builder    *build.Builder
	kubectlBin string
}

// up brings clusters up for one test and takes them down after it, checking that nothing of
// the run is left.
func up(t *testing.T, opts provider.Options) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the e2e suite needs root: run it as root (make test does)")
	}
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	p := local.New("", b, os.Stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := p.Up(ctx, opts); err != nil {
		t.Fatalf("clusters up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			dumpLogs(t, opts.Clusters)
		}
		if err := p.Down(ctx); err != nil {
			t.Errorf("clusters down: %v", err)
		}
		assertNothingLeft(t)
	})
	kubectl, err := p.Kubectl(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &env{p: p, builder: b, kubectlBin: kubectl}
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

// dumpLogs prints the tail of every component's log of the run, for a failed test.
func dumpLogs(t *testing.T, clusters []string) {
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

// assertNothingLeft checks what a user would look for after down: no node process, no
// network link, no cgroup, no mount and no file of the run.
func assertNothingLeft(t *testing.T) {
	t.Helper()
	if left, _ := local.Leftovers(local.DefaultRoot); len(left) > 0 {
		t.Errorf("after down, the run left:\n  %s", strings.Join(left, "\n  "))
	}
}
