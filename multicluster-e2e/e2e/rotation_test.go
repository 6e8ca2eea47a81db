//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/pkg/trust"
)

// trustHolders are the pods of a cluster that hold a leaf and a bundle, by namespace,
// selector and the port of their metrics: every meshed pod of the test's namespace, the
// east-west gateway and the destination service.
var trustHolders = []struct{ ns, selector, port string }{
	{"shop", "", "4191"},
	{"mesh-multicluster", "app.kubernetes.io/name=mesh-gateway", "4191"},
	{"mesh-system", "app.kubernetes.io/name=destination", "9996"},
}

var (
	anchorInfoRE = regexp.MustCompile(`(?m)^meshfed_trust_anchor_info\{[^}]*anchor="([0-9a-f]*)"`)
	leafInfoRE   = regexp.MustCompile(`(?m)^meshfed_identity_leaf_info\{[^}]*anchor="([0-9a-f]*)"`)
)

// trustFollowed is a condition for eventually: in every cluster, every trust holder's metrics
// say that its bundle holds exactly the anchors bundle, and that its leaf chains to leaf.
func trustFollowed(t *testing.T, ctx context.Context, e *env, clusters []string, bundle []string, leaf string) func() error {
	want := slices.Clone(bundle)
	sort.Strings(want)
	return func() error {
		var lagging []string
		for _, c := range clusters {
			for _, h := range trustHolders {
				each, err := podMetrics(ctx, e.client(t, c), h.ns, h.selector, h.port)
				if err != nil {
					return err
				}
				for pod, m := range each {
					var anchors []string
					for _, sub := range anchorInfoRE.FindAllStringSubmatch(m, -1) {
						anchors = append(anchors, sub[1])
					}
					sort.Strings(anchors)
					leafAnchor := "none"
					if sub := leafInfoRE.FindStringSubmatch(m); sub != nil {
						leafAnchor = sub[1]
					}
					if !slices.Equal(anchors, want) || leafAnchor != leaf {
						lagging = append(lagging, fmt.Sprintf("%s %s/%s: bundle %v, leaf chains to %q", c, h.ns, pod, anchors, leafAnchor))
					}
				}
			}
		}
		if len(lagging) > 0 {
			return fmt.Errorf("want bundle %v and leaves chaining to %s; not yet:\n  %s", want, leaf, strings.Join(lagging, "\n  "))
		}
		return nil
	}
}

// anchorID is how the metrics name the anchor in dir: the start of its fingerprint.
func anchorID(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := trust.ParseCertificates(b)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s/ca.crt: %d certificates, %v", dir, len(certs), err)
	}
	return trust.Fingerprint(certs[0])[:16]
}

// loadSummary parses `echo load-read`: "ok N failed M", then the errors.
func loadSummary(out string) (ok, failed int, err error) {
	if _, err := fmt.Sscanf(out, "ok %d failed %d", &ok, &failed); err != nil {
		return 0, 0, fmt.Errorf("load summary %q: %w", out, err)
	}
	return ok, failed, nil
}

// rotateAnchor moves every cluster from the anchor in oldDir to a new one as the README and
// `mesh trust rotate-anchor --help` say, step by step, each step applied to every cluster
// before the next, while west's front calls web-east through east's gateway 20 times a
// second. No call may fail, and no pod restarts: the proxies, gateways and destination
// services follow the identity service's trust stream.
func rotateAnchor(t *testing.T, ctx context.Context, e *env, oldDir string, clusters []string) {
	newDir := filepath.Join(t.TempDir(), "anchor-new")
	e.mesh(t, ctx, clusters[0], "trust", "anchor", "--out", newDir)
	oldID, newID := anchorID(t, oldDir), anchorID(t, newDir)
	before := restarts(t, ctx, e, clusters)
	eventually(t, 60*time.Second, "every part to hold the old anchor alone, before the rotation",
		trustFollowed(t, ctx, e, clusters, []string{oldID}, oldID))

	load := func(cmd ...string) string {
		t.Helper()
		out, err := e.kubectl(ctx, "west", "", append([]string{"-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin}, cmd...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	load("load-start", "--rate", "20", "http://web-east.shop.svc.cluster.local/")
	stopped := false
	defer func() {
		if !stopped {
			t.Logf("load at the end: %s", load("load-stop"))
		}
	}()
	// okAtLeast waits for the load to count n calls answered, failing at the first failure.
	okAtLeast := func(n int, while string) int {
		t.Helper()
		var ok int
		eventually(t, 60*time.Second, fmt.Sprintf("%d calls of the load answered, %s", n, while), func() error {
			out := load("load-read")
			var failed int
			var err error
			if ok, failed, err = loadSummary(out); err != nil {
				return err
			}
			if failed > 0 {
				t.Fatalf("%s: calls failed:\n%s", while, out)
			}
			if ok < n {
				return fmt.Errorf("%d answered", ok)
			}
			return nil
		})
		return ok
	}
	ok := okAtLeast(20, "before the rotation")

	start := time.Now()
	step := func(name string, extra ...string) {
		t.Logf("%s: step %s", time.Since(start).Round(time.Second), name)
		for _, c := range clusters {
			args := append([]string{"trust", "rotate-anchor", "--old", oldDir, "--new", newDir, "--cluster", c, "--step", name}, extra...)
			e.apply(t, ctx, c, e.mesh(t, ctx, c, args...))
		}
	}

	step("bundle")
	eventually(t, 60*time.Second, "every part to trust both anchors",
		trustFollowed(t, ctx, e, clusters, []string{oldID, newID}, oldID))
	t.Logf("%s: every part trusts both anchors", time.Since(start).Round(time.Second))
	ok = okAtLeast(ok+20, "with both anchors trusted")

	step("reissue", "--cert-manager")
	for _, c := range clusters {
		renewIssuer(t, ctx, e, c)
	}
	eventually(t, 90*time.Second, "every part's leaf to chain to the new anchor (cert-manager reissues, the identity service streams the issuer, each part renews)",
		trustFollowed(t, ctx, e, clusters, []string{oldID, newID}, newID))
	t.Logf("%s: every part's leaf chains to the new anchor", time.Since(start).Round(time.Second))
	ok = okAtLeast(ok+20, "with every leaf of the new anchor")

	step("drop")
	eventually(t, 60*time.Second, "every part to trust the new anchor alone",
		trustFollowed(t, ctx, e, clusters, []string{newID}, newID))
	t.Logf("%s: every part trusts the new anchor alone", time.Since(start).Round(time.Second))
	okAtLeast(ok+40, "with the old anchor gone")

	stopped = true
	out := load("load-stop")
	total, failed, err := loadSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	if failed > 0 || total == 0 {
		t.Fatalf("across the rotation: %s", out)
	}
	t.Logf("%s: across the rotation, %d calls answered, none failed", time.Since(start).Round(time.Second), total)
	if out := e.mesh(t, ctx, clusters[0], append([]string{"trust", "verify", "--require-issuer-anchor", filepath.Join(newDir, "ca.crt")}, contextFlags(clusters)...)...); strings.Contains(out, "✗") {
		t.Errorf("mesh trust verify after the rotation:\n%s", out)
	}
	after := restarts(t, ctx, e, clusters)
	for k, n := range after {
		if b, ok := before[k]; ok && n != b {
			t.Errorf("container %s restarted during the rotation: %d restarts before, %d after", k, b, n)
		}
	}
}

// restarts counts the restarts of every container of the trust holders, by cluster, pod and
// container. A pod on its way out (one a case before scaled away) is no holder: it may be
// gone by the next count.
func restarts(t *testing.T, ctx context.Context, e *env, clusters []string) map[string]int32 {
	t.Helper()
	out := map[string]int32{}
	for _, c := range clusters {
		for _, h := range trustHolders {
			pods, err := e.client(t, c).CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: h.selector})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					continue
				}
				for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
					out[c+" "+h.ns+"/"+p.Name+" "+s.Name] = s.RestartCount
				}
			}
		}
	}
	return out
}

func contextFlags(clusters []string) []string {
	var out []string
	for _, c := range clusters {
		out = append(out, "--context", c)
	}
	return out
}
