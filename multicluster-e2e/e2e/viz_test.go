//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
)

// TestViz is issue 16's proof on real clusters: with the demo running across west and east
// (its web in west calling voting in east through east's gateway) and a back end in east
// failing every second call (echo --fail-percent 50, called from west), `mesh viz` in west
// shows every workload of both clusters with traffic and the right success rate, the
// cross-cluster edges named with @east, and the dashboard serves both clusters. All of it
// with the CLI and kubectl, against a real Prometheus per cluster as mesh viz install
// renders it, east's read by west's viz API over mTLS through east's gateway.
//
// It has clusters of its own: TestFederation's three clusters run an anchor rotation that
// no call may fail, and TestFlatMesh has no gateway, through which viz reads a remote
// Prometheus and names a cross-cluster edge.
func TestViz(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west", "east"}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	step := stepTimer(t)

	installMesh(t, ctx, e, "west", "east")
	for _, c := range []string{"west", "east"} {
		if out, err := e.meshErr(ctx, c, "", "check", "--wait", "3m"); err != nil {
			t.Fatalf("mesh check in %s: %v\n%s", c, err, out)
		}
	}
	e.apply(t, ctx, "west", e.mesh(t, ctx, "west", "multicluster", "install", "--cluster-name", "west"))
	e.apply(t, ctx, "east", e.mesh(t, ctx, "east", "multicluster", "install", "--cluster-name", "east", "--allow-clusters", "west"))
	awaitGateway(t, ctx, e, "east")
	// As the README links: run against east, applied in west. The namespaces of what east
	// exports (meshfed-demo, mesh-viz, shop) are made in west if west has none yet.
	e.apply(t, ctx, "west", e.mesh(t, ctx, "east", "multicluster", "link", "--cluster-name", "east", "--create-missing-namespaces"))
	if _, err := e.kubectl(ctx, "west", "", "-n", "mesh-multicluster", "wait", "--for=condition=Ready", "link/east", "--timeout=90s"); err != nil {
		t.Fatal(err)
	}
	step("mesh in west and east, west linked to east")

	// The metrics stack as the README says: east's Prometheus exported, west's viz API
	// reading both.
	e.apply(t, ctx, "east", e.mesh(t, ctx, "east", "viz", "install", "--cluster-name", "east"))
	e.apply(t, ctx, "west", e.mesh(t, ctx, "west", "viz", "install", "--cluster-name", "west", "--remote-clusters", "east"))

	// Workloads are injected with mesh inject before they are applied, so that their pods
	// start once, with their proxies, whatever the injector's webhook knows of their
	// namespace yet: the link controller makes west's shop (east exports into it), and a
	// pod made just after kubectl adds the inject annotation to it may be missed.
	applyInjected := func(cluster, manifest string) {
		t.Helper()
		injected, err := e.meshErr(ctx, cluster, manifest, "inject", "--cluster-name", cluster, "-")
		if err != nil {
			t.Fatalf("mesh inject in %s: %v: %s", cluster, err, injected)
		}
		e.apply(t, ctx, cluster, injected)
	}
	// The demo as make demo runs it: voting in east, the rest in west calling voting-east.
	applyInjected("east", e.mesh(t, ctx, "east", "demo", "install", "--voting-only"))
	applyInjected("west", e.mesh(t, ctx, "west", "demo", "install", "--voting-in", "east"))
	// The half-failing back end: flaky in east answers every second call with a 500; west's
	// front calls it through its mirror flaky-east.
	flaky := strings.Replace(fedApp("flaky", true), "args: [serve]", `args: [serve, --fail-percent, "50"]`, 1)
	applyInjected("east", meshedShop+"---\n"+flaky)
	applyInjected("west", meshedShop+"---\n"+fedApp("front", false))

	for c, deploys := range map[string][]string{
		"east": {"mesh-viz/meshfed-prometheus", "mesh-viz/meshfed-viz", "meshfed-demo/voting", "shop/flaky"},
		"west": {"mesh-viz/meshfed-prometheus", "mesh-viz/meshfed-viz", "meshfed-demo/web", "meshfed-demo/emoji", "meshfed-demo/vote-bot", "shop/front"},
	} {
		for _, d := range deploys {
			ns, name, _ := strings.Cut(d, "/")
			if _, err := e.kubectl(ctx, c, "", "-n", ns, "rollout", "status", "deployment/"+name, "--timeout=180s"); err != nil {
				t.Fatalf("in %s: %v", c, err)
			}
		}
		for _, ns := range []string{"mesh-viz", "meshfed-demo", "shop"} {
			eventually(t, 60*time.Second, "every "+ns+" pod in "+c+" meshed and ready", func() error {
				return podsMeshedAndReady(ctx, e.client(t, c), ns)
			})
		}
	}
	eventually(t, 60*time.Second, "west's mirror of east's Prometheus, meshfed-prometheus-east", func() error {
		_, err := e.client(t, "west").CoreV1().Services("mesh-viz").Get(ctx, "meshfed-prometheus-east", metav1.GetOptions{})
		return err
	})
	out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin, "load-start", "--rate", "10", "http://flaky-east.shop.svc.cluster.local/")
	if err != nil {
		t.Fatalf("starting west front's calls to flaky-east: %v: %s", err, out)
	}
	step("viz, the demo and flaky running")

	// What the viz API must show once a whole window (1m) of traffic has been scraped:
	// healthy workloads at about 100%, flaky at about 50%, each with traffic.
	healthy := func(g vizapi.Golden) error {
		if g.RPS <= 0 || g.SuccessRate == nil || *g.SuccessRate < 0.99 {
			return fmt.Errorf("rps %.2f, success %s; want traffic at 99%% or more", g.RPS, percentOf(g.SuccessRate))
		}
		return nil
	}
	halfFailing := func(g vizapi.Golden) error {
		if g.RPS <= 0 || g.SuccessRate == nil || *g.SuccessRate < 0.35 || *g.SuccessRate > 0.65 {
			return fmt.Errorf("rps %.2f, success %s; want traffic at 35%% to 65%%", g.RPS, percentOf(g.SuccessRate))
		}
		return nil
	}
	wantWorkloads := map[string]func(vizapi.Golden) error{
		"west/meshfed-demo/deployment/web":    healthy,
		"west/meshfed-demo/deployment/emoji":  healthy,
		"east/meshfed-demo/deployment/voting": healthy, // read from east's Prometheus, through the gateway
		"east/shop/deployment/flaky":          halfFailing,
	}
	// Every call is mTLS, through the gateway too: the gateway forwards the source proxy's
	// own session to the destination proxy.
	mTLS := func(check func(vizapi.Golden) error) func(vizapi.Golden) error {
		return func(g vizapi.Golden) error {
			if g.TLSShare == nil || *g.TLSShare < 0.999 {
				return fmt.Errorf("mTLS share %s, want 100%%", percentOf(g.TLSShare))
			}
			return check(g)
		}
	}
	wantEdges := map[string]func(vizapi.Golden) error{
		"west/meshfed-demo/deployment/vote-bot -> deployment/web":    mTLS(healthy),
		"west/meshfed-demo/deployment/web -> deployment/emoji":       mTLS(healthy),
		"west/meshfed-demo/deployment/web -> deployment/voting@east": mTLS(healthy),
		"west/shop/deployment/front -> deployment/flaky@east":        mTLS(halfFailing),
		// West's viz API reading east's Prometheus, through east's gateway.
		"west/mesh-viz/deployment/meshfed-viz -> deployment/meshfed-prometheus@east": mTLS(healthy),
	}

	meshBin := e.meshBinary(t, ctx)
	var stat vizapi.StatAnswer
	t.Run("mesh viz stat shows every workload of both clusters with traffic, flaky at about 50%", func(t *testing.T) {
		// A window's worth of scrapes comes first: Prometheus scrapes every 10s and the
		// recording rules take rates over 1m, so about a minute and a half after the pods.
		// Each try runs the CLI and queries two Prometheus, which evaluate their rules every
		// 10s anyway.
		testenv.EventuallyEvery(t, 4*time.Minute, 3*time.Second, "mesh viz stat -A -o json in west to show "+strings.Join(keys(wantWorkloads), ", "), func() error {
			stat = vizapi.StatAnswer{}
			if err := e.meshJSON(ctx, meshBin, "west", &stat, "viz", "stat", "-A", "-o", "json"); err != nil {
				return err
			}
			if err := bothClustersAnswered(stat.Clusters); err != nil {
				return err
			}
			got := map[string]vizapi.Golden{}
			for _, w := range stat.Workloads {
				got[w.Workload.String()] = w.Golden
			}
			for name, check := range wantWorkloads {
				g, ok := got[name]
				if !ok {
					return fmt.Errorf("no line for %s in %s", name, strings.Join(keys(got), ", "))
				}
				if err := check(g); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			return nil
		})
		for _, w := range stat.Workloads {
			if wantWorkloads[w.Workload.String()] != nil {
				t.Logf("stat %-40s rps %5.2f  success %s  p99 %s", w.Workload.String(), w.RPS, percentOf(w.SuccessRate), msOf(w.P99))
			}
		}
		step("stat answered as wanted")
	})

	t.Run("mesh viz edges names the cross-cluster edges with @east, at the callers' success rates", func(t *testing.T) {
		var edges vizapi.EdgesAnswer
		// The same window as stat's, so at most a scrape or two later.
		testenv.EventuallyEvery(t, time.Minute, 3*time.Second, "mesh viz edges -A -o json in west to show "+strings.Join(keys(wantEdges), ", "), func() error {
			edges = vizapi.EdgesAnswer{}
			if err := e.meshJSON(ctx, meshBin, "west", &edges, "viz", "edges", "-A", "-o", "json"); err != nil {
				return err
			}
			if err := bothClustersAnswered(edges.Clusters); err != nil {
				return err
			}
			got := map[string]vizapi.Edge{}
			for _, ed := range edges.Edges {
				got[ed.Src.Cluster+"/"+ed.Src.Namespace+"/"+ed.Name] = ed
			}
			for name, check := range wantEdges {
				ed, ok := got[name]
				if !ok {
					return fmt.Errorf("no edge %s in %s", name, strings.Join(keys(got), ", "))
				}
				if strings.Contains(name, "@east") && (ed.Gateway != "east" || ed.Dst.Cluster != "east") {
					return fmt.Errorf("%s: gateway %q, destination in cluster %q; want east for both", name, ed.Gateway, ed.Dst.Cluster)
				}
				if err := check(ed.Golden); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			return nil
		})
		for _, ed := range edges.Edges {
			if key := ed.Src.Cluster + "/" + ed.Src.Namespace + "/" + ed.Name; wantEdges[key] != nil {
				t.Logf("edge %-62s rps %5.2f  success %s  p99 %s  tls %s", key, ed.RPS, percentOf(ed.SuccessRate), msOf(ed.P99), percentOf(ed.TLSShare))
			}
		}
	})

	t.Run("mesh viz top shows one view: both clusters' workloads, the edge to east, the link", func(t *testing.T) {
		out, err := e.meshErr(ctx, "west", "", "viz", "top", "-A", "--count", "1")
		if err != nil {
			t.Fatalf("mesh viz top --count 1: %v\n%s", err, out)
		}
		for _, want := range []string{"deployment/voting@east", "deployment/flaky@east", "link west -> east: gateway alive"} {
			if !strings.Contains(out, want) {
				t.Errorf("mesh viz top does not show %q:\n%s", want, out)
			}
		}
		// A line of stats per workload, east's among them: CLUSTER NAMESPACE NAME ...
		lines := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) >= 3 {
				lines[f[0]+"/"+f[1]+"/"+f[2]] = true
			}
		}
		for _, w := range []string{"west/meshfed-demo/deployment/web", "east/meshfed-demo/deployment/voting", "east/shop/deployment/flaky"} {
			if !lines[w] {
				t.Errorf("mesh viz top has no line for %s:\n%s", w, out)
			}
		}
		if strings.Contains(out, "Warning: cluster") {
			t.Errorf("mesh viz top says a cluster is missing:\n%s", out)
		}
	})

	t.Run("mesh viz dashboard --port 0 serves the page, and its API answers with both clusters", func(t *testing.T) {
		url := e.dashboard(t, ctx, meshBin, "west")
		page := httpGet(t, ctx, url)
		if !strings.Contains(strings.ToLower(page), "<html") {
			t.Errorf("the dashboard's page at %s is not HTML: %.200q", url, page)
		}
		var ov vizapi.Overview
		if err := json.Unmarshal([]byte(httpGet(t, ctx, url+"api/v1/overview")), &ov); err != nil {
			t.Fatalf("the dashboard's /api/v1/overview: %v", err)
		}
		if err := bothClustersAnswered(ov.Clusters); err != nil {
			t.Error(err)
		}
		seen := map[string]bool{}
		for _, w := range ov.Workloads {
			seen[w.Cluster] = true
		}
		if !seen["west"] || !seen["east"] {
			t.Errorf("the overview has workloads of %v, want west and east", keys(seen))
		}
		step("dashboard served")

		// The page in a browser, when there is one: it lists both clusters and the success
		// rate of the edge from west's web to east's voting.
		bctx, ok := e2eBrowser(t)
		if !ok {
			return
		}
		bctx, cancel := context.WithTimeout(bctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		const edge = "deployment/web -> deployment/voting@east"
		var got string
		deadline := time.Now().Add(60 * time.Second)
		for {
			var err error
			got, err = chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`[...document.querySelectorAll('#clusters li')].map(li => li.dataset.cluster).join(',') + ' ' +
				((document.querySelector('tr[data-edge=%q] td.sr') || {}).textContent || '')`, edge)))
			// The page lists the clusters in the viz API's order: west's own first.
			if clusters, sr, _ := strings.Cut(got, " "); err == nil && clusters == "west,east" && strings.HasSuffix(sr, "%") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting 60s for the page to list east and west and the success rate of %s: it shows %q (%v)", edge, got, err)
			}
			time.Sleep(500 * time.Millisecond) // the page refreshes every 2s
		}
		t.Logf("the page in Chromium: clusters and the success rate of %s: %s", edge, got)
		step("dashboard drawn in Chromium")
	})

	if out, err := e.kubectl(ctx, "west", "", "-n", "shop", "exec", "deploy/front", "-c", "echo", "--", echoBin, "load-stop"); err == nil {
		t.Logf("west front's calls to flaky-east: %s", strings.TrimSpace(out))
	}
}

// meshBinary builds the mesh CLI once for a test that runs it every few seconds: meshErr
// builds it at every call, which costs a second of a shared machine's CPU each time.
func (e *env) meshBinary(t *testing.T, ctx context.Context) string {
	t.Helper()
	dir, err := e.builder.Repo(ctx, "./cmd/mesh")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "mesh")
}

// meshJSON runs the mesh CLI at bin against cluster and decodes what it printed into v.
func (e *env) meshJSON(ctx context.Context, bin, cluster string, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", e.p.Kubeconfig(), "--context", cluster}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("mesh %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("mesh %s printed no JSON: %w: %.300s", strings.Join(args, " "), err, out)
	}
	return nil
}

// dashboard starts `mesh viz dashboard --port 0` (bin) against cluster for the rest of the test
// and returns the URL it prints.
func (e *env) dashboard(t *testing.T, ctx context.Context, bin, cluster string) string {
	t.Helper()
	cmd := exec.Command(bin, "--kubeconfig", e.p.Kubeconfig(), "--context", cluster, "viz", "dashboard", "--port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Interrupted as a user's Ctrl-C would: it shuts the server down and exits 0.
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("mesh viz dashboard, interrupted: %v: %s", err, stderr.String())
		}
	})
	urls := make(chan string, 1)
	go func() {
		// "The dashboard is at http://127.0.0.1:PORT/ (Ctrl-C to stop)"
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), " at "); ok {
				urls <- strings.Fields(rest)[0]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("mesh viz dashboard --port 0 printed no URL in 30s: %s", stderr.String())
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	return ""
}

func httpGet(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body)
}

// e2eBrowser starts headless Chromium (Debian's chromium, which hack/install-deps.sh
// installs) for the rest of the test; false, with a log line, when there is none.
func e2eBrowser(t *testing.T) (context.Context, bool) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Logf("no chromium: the page is not drawn (hack/install-deps.sh installs it)")
		return nil, false
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the suite runs as root, where Chromium's sandbox refuses to start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, for the life of ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx, true
}

// bothClustersAnswered checks the viz API read west's Prometheus and east's.
func bothClustersAnswered(cs []vizapi.ClusterStatus) error {
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Error != "" {
			return fmt.Errorf("cluster %s did not answer: %s", c.Name, c.Error)
		}
		seen[c.Name] = true
	}
	if !seen["west"] || !seen["east"] {
		return fmt.Errorf("the viz API read %v, want west and east", cs)
	}
	return nil
}

// stepTimer logs the time each step of a test took, and since the start.
func stepTimer(t *testing.T) func(string) {
	start, last := time.Now(), time.Now()
	return func(what string) {
		t.Helper()
		now := time.Now()
		t.Logf("timing: %s: %s (%s since the start)", what, now.Sub(last).Round(100*time.Millisecond), now.Sub(start).Round(100*time.Millisecond))
		last = now
	}
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func percentOf(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

func msOf(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fms", *p)
}
