package viz

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
	"github.com/meshfed/meshfed/pkg/viz/viztest"
)

// TestCommands runs stat, edges, top and dashboard against the real viz API over a real
// Prometheus per cluster, west's web calling east's voting (failing half) through east's
// gateway.
func TestCommands(t *testing.T) {
	web := vizapi.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/web"}
	voting := vizapi.Workload{Cluster: "east", Namespace: "demo", Name: "deployment/voting"}
	fed := viztest.StartFederation(t, time.Second, []viztest.Call{
		{From: vizapi.Workload{Cluster: "west", Namespace: "demo", Name: "deployment/vote-bot"}, To: web, RPS: 10, Latency: 9 * time.Millisecond},
		{From: web, To: voting, RPS: 10, FailRatio: 0.5, Latency: 4 * time.Millisecond},
	})
	srv, err := vizapi.NewServer(fed.Sources(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fed.WaitScraped(ctx, t)
	base := []string{"--api-url", api.URL}

	t.Run("stat", func(t *testing.T) {
		out := eventually(ctx, t, "voting at about 50% in the table", func() (string, bool) {
			out, _, err := run(nil, append(base, "stat", "deploy", "-n", "demo", "--window", "10s")...)
			return out, err == nil && lineWith(out, "east", "deployment/voting", "50.00%") && lineWith(out, "west", "deployment/web", "100.00%")
		})
		if h := strings.Fields(strings.SplitN(out, "\n", 2)[0]); strings.Join(h, " ") != "CLUSTER NAMESPACE NAME SUCCESS RPS P50 P95 P99 TLS" {
			t.Errorf("no header first:\n%s", out)
		}
		out, _, err := run(nil, append(base, "stat", "-A", "--cluster", "east", "--window", "10s", "-o", "json")...)
		if err != nil {
			t.Fatal(err)
		}
		var ans vizapi.StatAnswer
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			t.Fatalf("-o json: %v\n%s", err, out)
		}
		if len(ans.Workloads) != 1 || ans.Workloads[0].Workload != voting {
			t.Errorf("--cluster east: %+v, want voting alone", ans.Workloads)
		}
	})
	t.Run("edges", func(t *testing.T) {
		eventually(ctx, t, "the cross-cluster edge at about 50%", func() (string, bool) {
			out, _, err := run(nil, append(base, "edges", "-n", "demo", "--window", "10s")...)
			return out, err == nil && lineWith(out, "west", "deployment/web", "deployment/voting@east", "50.00%")
		})
	})
	t.Run("top", func(t *testing.T) {
		out, stderr, err := run(nil, append(base, "top", "-n", "demo", "--window", "10s", "--count", "2", "--interval", "1s", "-o", "json")...)
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d views, want 2:\n%s", len(lines), out)
		}
		var ov vizapi.Overview
		if err := json.Unmarshal([]byte(lines[1]), &ov); err != nil {
			t.Fatal(err)
		}
		if len(ov.Links) != 1 || ov.Links[0].Remote != "east" {
			t.Errorf("links %+v, want west's to east", ov.Links)
		}
		out, _, err = run(nil, append(base, "top", "-n", "demo", "--window", "10s", "--count", "1")...)
		if err != nil || !strings.Contains(out, "link west -> east: gateway alive") || !strings.Contains(out, "deployment/voting@east") {
			t.Errorf("table view (%v):\n%s", err, out)
		}
	})
	t.Run("dashboard", func(t *testing.T) {
		dctx, stop := context.WithCancel(ctx)
		urls := make(chan string, 1)
		done := make(chan error, 1)
		o := &DashboardOptions{Address: "127.0.0.1", api: &apiFlags{URL: api.URL}, listening: urls, IOStreams: cmdutil.IOStreams{Out: io.Discard, ErrOut: io.Discard}}
		go func() { done <- o.Run(dctx) }()
		var url string
		select {
		case url = <-urls:
		case err := <-done:
			t.Fatal(err)
		}
		for path, want := range map[string]string{"": "<title>meshfed", "dashboard.js": "cytoscape", "api/v1/stat?window=10s": `"workloads"`, "api/v1/stat?window=1s": "window=1s is out of range"} {
			resp, err := http.Get(url + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), want) {
				t.Errorf("GET /%s: %s, want %q in %.200s", path, resp.Status, want, body)
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
}

func TestCommandsBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stat", "pods,deploy"}, `unknown workload kind "pods,deploy"`},
		{[]string{"stat", "deploy", "sts"}, "one workload kind at most"},
		{[]string{"stat", "-o", "yaml"}, `--output "yaml": use table or json`},
		{[]string{"edges", "--window", "1s"}, "--window 1s: use 10s to 1h0m0s"},
		{[]string{"top", "--interval", "10ms"}, "--interval 10ms: use 1s or more"},
		{[]string{"top", "--count", "-1"}, "--count -1"},
		{[]string{"dashboard", "--port", "70000"}, "--port 70000"},
		{[]string{"dashboard", "--address", "localhost"}, `--address "localhost" is not an IP address`},
		{[]string{"stat", "--api-url", "127.0.0.1:8084"}, `--api-url "127.0.0.1:8084" is not an http(s) URL`},
		{[]string{"stat", "--api-url", "http://127.0.0.1:1"}, "the viz API at http://127.0.0.1:1"},
		{[]string{"nope"}, `unknown command "nope"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// lineWith says whether a line of out holds every field, in order.
func lineWith(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		rest, ok := l, true
		for _, f := range fields {
			i := strings.Index(rest, f)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(f):]
		}
		if ok {
			return true
		}
	}
	return false
}

// eventually retries f until it says done or ctx ends, failing with what was awaited and
// f's last output.
func eventually(ctx context.Context, t *testing.T, what string, f func() (string, bool)) string {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		out, ok := f()
		if ok {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last output:\n%s", what, ctx.Err(), out)
		case <-tick.C:
		}
	}
}
