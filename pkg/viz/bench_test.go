package viz_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meshfed/meshfed/pkg/viz"
	"github.com/meshfed/meshfed/pkg/viz/viztest"
)

// BenchmarkOverview200 times the viz API's overview (every workload's stat, every edge, the
// links: one query of ten parts to each cluster's Prometheus, side by side, and the join) for 200
// workloads over two clusters with real Prometheus, as installed (reading the recording
// rules' series) and without the rules, beside a baseline: the largest request-rate query
// alone, over the raw series, sent straight to one Prometheus. The goal is under 100 ms.
//
//	go test -run '^$' -bench Overview200 ./pkg/viz/
func BenchmarkOverview200(b *testing.B) {
	const perCluster = 100
	var calls []viztest.Call
	clusters := []string{"west", "east"}
	for ci, c := range clusters {
		for i := range perCluster {
			from := viz.Workload{Cluster: c, Namespace: "bench", Name: fmt.Sprintf("deployment/w%03d", i)}
			to := viz.Workload{Cluster: c, Namespace: "bench", Name: fmt.Sprintf("deployment/w%03d", (i+1)%perCluster)}
			calls = append(calls, viztest.Call{From: from, To: to, RPS: 5, FailRatio: 0.1, Latency: time.Duration(1+i%20) * time.Millisecond})
			if i%10 == 0 { // a tenth also call the other cluster through its gateway
				remote := to
				remote.Cluster = clusters[1-ci]
				calls = append(calls, viztest.Call{From: from, To: remote, RPS: 2, Latency: 8 * time.Millisecond})
			}
		}
	}
	fed := viztest.StartFederation(b, 10*time.Second, calls)
	// As mesh viz install runs it: reading the recording rules' series for the default window.
	srv, err := viz.NewServer(fed.Sources(), slog.New(slog.DiscardHandler), viz.WithRecordingRules())
	if err != nil {
		b.Fatal(err)
	}
	api := httptest.NewServer(srv.Handler())
	defer api.Close()
	// The same without them: every query a pass over the raw series.
	rawSrv, err := viz.NewServer(fed.Sources(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	raw := httptest.NewServer(rawSrv.Handler())
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fed.WaitScraped(ctx, b)

	var ov viz.Overview
	if err := getJSON(ctx, api.URL+"/api/v1/overview", &ov); err != nil {
		b.Fatal(err)
	}
	if len(ov.Workloads) != 2*perCluster {
		b.Fatalf("the overview has %d workloads, want %d", len(ov.Workloads), 2*perCluster)
	}
	b.Logf("overview: %d workloads, %d edges, %d links", len(ov.Workloads), len(ov.Edges), len(ov.Links))

	b.Run("api", func(b *testing.B) {
		for b.Loop() {
			if err := getJSON(ctx, api.URL+"/api/v1/overview", &ov); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	})
	b.Run("api-without-recording-rules", func(b *testing.B) {
		for b.Loop() {
			if err := getJSON(ctx, raw.URL+"/api/v1/overview", &ov); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	})
	b.Run("baseline-one-raw-query", func(b *testing.B) {
		q := `sum by (namespace, src_workload, dst_workload, remote_cluster, authority, server_id, status_code, tls) (rate(meshfed_proxy_requests_total{direction="outbound"}[1m]))`
		for b.Loop() {
			if _, _, err := fed.Prometheus["west"].API.Query(ctx, q, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	})
}
