package dashboard_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/meshfed/meshfed/pkg/viz"
	"github.com/meshfed/meshfed/pkg/viz/dashboard"
	"github.com/meshfed/meshfed/pkg/viz/viztest"
)

// browser starts headless Chromium (Debian's chromium, which hack/install-deps.sh installs)
// for the test, or skips it when there is none, unless MESHFED_REQUIRE_CHROMIUM is set.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("MESHFED_CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			msg := "no chromium to drive: run hack/install-deps.sh (Debian's chromium), or set MESHFED_CHROMIUM"
			if os.Getenv("MESHFED_REQUIRE_CHROMIUM") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox refuses to start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1300),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser, for the life of ctx: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// artifacts is where a test keeps what it shows: $MESHFED_ARTIFACTS, else .artifacts at the
// repository's top (git ignores it).
func artifacts(t *testing.T) string {
	dir := os.Getenv("MESHFED_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", ".artifacts")
	}
	dir = filepath.Join(dir, "viz")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serve runs the viz API over fed, as installed (reading the recording rules' series for
// the page's default window), and the dashboard in front of it, on loopback.
func serve(t *testing.T, fed *viztest.Federation) string {
	srv, err := viz.NewServer(fed.Sources(), slog.New(slog.DiscardHandler), viz.WithRecordingRules())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(dashboard.Handler(srv.Handler()))
	t.Cleanup(hs.Close)
	return hs.URL + "/"
}

// until evaluates js in the page until check accepts its answer or ctx ends, failing with
// what was awaited and the last answer.
func until[T any](ctx context.Context, t *testing.T, what, js string, check func(T) bool) T {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var got T
	var last error
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
		if err != nil {
			last = err
		} else if got = v; check(v) {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last answer %v (error %v)", what, ctx.Err(), got, last)
		case <-tick.C:
		}
	}
}

// TestDashboard loads the page in headless Chromium over the viz API of two real
// Prometheus (west and east, the demo's calls, voting failing half) and finds both
// clusters, the cross-cluster edge and its success rate, then keeps a screenshot.
func TestDashboard(t *testing.T) {
	bctx := browser(t)
	web := viz.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/web"}
	fed := viztest.StartFederation(t, time.Second, []viztest.Call{
		{From: viz.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/vote-bot"}, To: web, RPS: 10, Latency: 9 * time.Millisecond},
		{From: web, To: viz.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/emoji"}, RPS: 10, Latency: 2 * time.Millisecond},
		{From: web, To: viz.Workload{Cluster: "east", Namespace: "demo", Name: "deployment/voting"}, RPS: 10, FailRatio: 0.5, Latency: 4 * time.Millisecond},
	})
	url := serve(t, fed)
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	fed.WaitScraped(ctx, t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}

	clusters := until(ctx, t, "both clusters listed", `[...document.querySelectorAll('#clusters li')].map(li => li.dataset.cluster).join(',')`,
		func(s string) bool { return s == "east,west" })
	t.Logf("clusters: %s", clusters)
	const edge = "deployment/web -> deployment/voting@east"
	sr := until(ctx, t, "the cross-cluster edge at about 50%", fmt.Sprintf(`(document.querySelector('tr[data-edge=%q] td.sr') || {}).textContent || ''`, edge),
		func(s string) bool {
			var v float64
			_, err := fmt.Sscanf(strings.TrimSuffix(s, "%"), "%g", &v)
			return err == nil && v >= 40 && v <= 60
		})
	t.Logf("edge %s: success %s", edge, sr)
	// The graph draws it too: an edge between west's web and east's voting, dashed as one
	// through a gateway, inside two cluster boxes.
	graph := until(ctx, t, "the graph's clusters and the cross-cluster edge",
		`(() => { const g = window.vizGraph; if (!g) return '';
			const e = g.edges('[gateway = "east"]').map(e => e.source().id() + '=>' + e.target().id());
			return g.nodes('[type = "cluster"]').map(n => n.id()).sort().join(',') + ' ' + e.join(','); })()`,
		func(s string) bool {
			return s == "cluster:east,cluster:west west/demo/deployment/web=>east/demo/deployment/voting"
		})
	t.Logf("graph: %s", graph)
	until(ctx, t, "the charts drawn, with traffic in the requests/s chart", `document.querySelectorAll('#charts .uplot').length === 3 &&
		window.vizCharts.rps.data.slice(1).some(s => s.some(v => v > 0))`, func(ok bool) bool { return ok })

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifacts(t), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}
