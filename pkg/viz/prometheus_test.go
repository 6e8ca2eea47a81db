package viz_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/meshfed/meshfed/pkg/viz"
	"github.com/meshfed/meshfed/pkg/viz/viztest"
)

// demoCalls are the demo app's across west and east: the bot votes through web, web calls
// emoji in west and voting in east through east's gateway (both gRPC, as the demo's), and
// voting fails half: gRPC failures, HTTP 200s with grpc-status 14.
func demoCalls() []viztest.Call {
	bot := viz.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/vote-bot"}
	web := viz.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/web"}
	emoji := viz.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/emoji"}
	voting := viz.Workload{Cluster: "east", Namespace: "demo", Name: "deployment/voting"}
	return []viztest.Call{
		{From: bot, To: web, RPS: 20, Latency: 12 * time.Millisecond},
		{From: web, To: emoji, RPS: 20, Latency: 3 * time.Millisecond, GRPC: true},
		{From: web, To: voting, RPS: 10, FailRatio: 0.5, Latency: 4 * time.Millisecond, GRPC: true},
	}
}

// TestRealPrometheus: the viz API over a real Prometheus per cluster, scraping the proxy's
// own metrics, says each workload's success rate and rate as the traffic was made, the
// cross-cluster edge included, and its latency quantiles are Prometheus' own.
func TestRealPrometheus(t *testing.T) {
	fed := viztest.StartFederation(t, time.Second, demoCalls())
	srv, err := viz.NewServer(fed.Sources(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fed.WaitScraped(ctx, t)

	type want struct{ rps, sr float64 }
	wantWorkloads := map[string]want{
		"west/demo/deployment/web":    {20, 1},
		"west/demo/deployment/emoji":  {20, 1},
		"east/demo/deployment/voting": {10, 0.5},
	}
	wantEdges := map[string]want{
		"deployment/vote-bot -> deployment/web":    {20, 1},
		"deployment/web -> deployment/emoji":       {20, 1},
		"deployment/web -> deployment/voting@east": {10, 0.5},
	}
	// Rates over a 10s window of 1s scrapes wobble: within a quarter of the truth is right.
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.25*want }
	check := func() error {
		var stat viz.StatAnswer
		if err := getJSON(ctx, api.URL+"/api/v1/stat?window=10s&kind=deploy", &stat); err != nil {
			return err
		}
		for _, c := range stat.Clusters {
			if c.Error != "" {
				return fmt.Errorf("cluster %s: %s", c.Name, c.Error)
			}
		}
		seen := map[string]bool{}
		for _, w := range stat.Workloads {
			wt, ok := wantWorkloads[w.Workload.String()]
			if !ok {
				continue
			}
			seen[w.Workload.String()] = true
			if w.SuccessRate == nil || !near(w.RPS, wt.rps) || math.Abs(*w.SuccessRate-wt.sr) > 0.1 {
				return fmt.Errorf("%s: %.2f rps at %v, want %.0f rps at %.0f%%", w.Workload, w.RPS, fmtRate(w.SuccessRate), wt.rps, wt.sr*100)
			}
			if w.TLSShare == nil || *w.TLSShare != 1 {
				return fmt.Errorf("%s: TLS share %v, want all", w.Workload, fmtRate(w.TLSShare))
			}
		}
		if len(seen) != len(wantWorkloads) {
			return fmt.Errorf("workloads %v, want all of %v", seen, wantWorkloads)
		}
		var edges viz.EdgesAnswer
		if err := getJSON(ctx, api.URL+"/api/v1/edges?window=10s", &edges); err != nil {
			return err
		}
		got := map[string]viz.Edge{}
		for _, e := range edges.Edges {
			got[e.Name] = e
		}
		for name, wt := range wantEdges {
			e, ok := got[name]
			if !ok {
				return fmt.Errorf("no edge %q in %v", name, got)
			}
			if e.SuccessRate == nil || !near(e.RPS, wt.rps) || math.Abs(*e.SuccessRate-wt.sr) > 0.1 {
				return fmt.Errorf("edge %s: %.2f rps at %v, want %.0f rps at %.0f%%", name, e.RPS, fmtRate(e.SuccessRate), wt.rps, wt.sr*100)
			}
		}
		return nil
	}
	waitFor(ctx, t, "the viz API to report the demo's traffic", check)

	// The p50 of voting (every request 4ms, in the (2ms, 5ms] bucket) is histogram_quantile's
	// of the workload's proxies.
	var stat viz.StatAnswer
	if err := getJSON(ctx, api.URL+"/api/v1/stat?window=10s&cluster=east", &stat); err != nil {
		t.Fatal(err)
	}
	v, _, err := fed.Prometheus["east"].API.Query(ctx, `histogram_quantile(0.5, sum by (le) (rate(meshfed_proxy_response_latency_seconds_bucket{direction="inbound",dst_workload="deployment/voting"}[10s])))`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vec := v.(model.Vector)
	if len(stat.Workloads) != 1 || stat.Workloads[0].P50 == nil || len(vec) != 1 {
		t.Fatalf("east's workloads %+v; prometheus' p50 %v", stat.Workloads, vec)
	}
	if got, want := *stat.Workloads[0].P50, float64(vec[0].Value)*1000; math.Abs(got-want) > 1e-6 {
		t.Errorf("voting's p50 %.4fms, prometheus says %.4fms", got, want)
	}
	if got := *stat.Workloads[0].P50; got <= 2 || got > 5 {
		t.Errorf("voting's p50 %.4fms, want in its bucket (2ms, 5ms]", got)
	}

	// The charts: every point of web's last minute, at most one a second.
	var series viz.SeriesAnswer
	if err := getJSON(ctx, api.URL+"/api/v1/series?window=10s&minutes=1&step=5s&cluster=east", &series); err != nil {
		t.Fatal(err)
	}
	if len(series.Series) != 1 || len(series.Series[0].Points) != 13 {
		t.Fatalf("series %+v, want voting's 13 points", series)
	}
	last := series.Series[0].Points[12]
	if last.SuccessRate == nil || math.Abs(*last.SuccessRate-0.5) > 0.1 || last.P99 == nil {
		t.Errorf("voting's last point %+v, want about 50%% with a p99", last)
	}
}

func fmtRate(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

func getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e viz.APIError
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// waitFor retries check until it passes, failing the test with its last error when ctx ends.
func waitFor(ctx context.Context, t testing.TB, what string, check func() error) {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last: %v", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}
