package viz

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

// s is one sample: label pairs, then the value.
func s(v float64, kv ...string) *model.Sample {
	m := model.Metric{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func vec(ss ...*model.Sample) model.Vector { return ss }

const (
	webID   = "spiffe://west.meshfed.local/ns/demo/sa/web"
	votesID = "spiffe://east.meshfed.local/ns/demo/sa/voting"
	emojiID = "spiffe://west.meshfed.local/ns/demo/sa/emoji"
)

// west's web calls emoji in west and voting in east through east's gateway (the mirror
// voting-east), and voting fails half of what it serves.
func federation() []clusterData {
	return []clusterData{
		{
			Source: Source{Cluster: "west", TrustDomain: "west.meshfed.local"},
			inbound: vec(
				s(10, "namespace", "demo", "dst_workload", "deployment/emoji", "authority", "emoji.demo.svc.cluster.local:8080", "client_id", webID, "status_code", "200", "tls", "true"),
			),
			inboundLatency: [3]model.Vector{
				vec(s(0.0005, "namespace", "demo", "dst_workload", "deployment/emoji")),
				vec(s(0.00095, "namespace", "demo", "dst_workload", "deployment/emoji")),
				// No quantile where Prometheus has none (NaN: no request in the window).
				vec(s(math.NaN(), "namespace", "demo", "dst_workload", "deployment/emoji")),
			},
			outbound: vec(
				s(10, "namespace", "demo", "src_workload", "deployment/web", "dst_workload", "deployment/emoji", "authority", "emoji.demo.svc.cluster.local:8080", "server_id", emojiID, "status_code", "200", "tls", "true"),
				s(2, "namespace", "demo", "src_workload", "deployment/web", "remote_cluster", "east", "authority", "voting-east.demo.svc.cluster.local:8080", "server_id", votesID, "status_code", "200", "tls", "true"),
				s(2, "namespace", "demo", "src_workload", "deployment/web", "remote_cluster", "east", "authority", "voting-east.demo.svc.cluster.local:8080", "server_id", votesID, "status_code", "503", "tls", "true"),
			),
			outboundLatency: [3]model.Vector{
				vec(s(0.005, "namespace", "demo", "src_workload", "deployment/web", "remote_cluster", "east", "authority", "voting-east.demo.svc.cluster.local:8080")),
			},
			gatewayDials: vec(s(0.5, "remote_cluster", "east", "result", "ok")),
			// The link controller's labels: the Link's namespace/name, which need not be
			// the cluster's, and the cluster it links to.
			linkState: vec(s(1, "link", "mesh-multicluster/east-eu", "remote_cluster", "east")),
		},
		{
			Source: Source{Cluster: "east", TrustDomain: "east.meshfed.local"},
			inbound: vec(
				s(2, "namespace", "demo", "dst_workload", "deployment/voting", "authority", "voting-east.demo.svc.cluster.local:8080", "client_id", webID, "status_code", "200", "tls", "true"),
				// A gRPC failure: HTTP 200, grpc-status 14.
				s(2, "namespace", "demo", "dst_workload", "deployment/voting", "authority", "voting-east.demo.svc.cluster.local:8080", "client_id", webID, "status_code", "200", "grpc_status", "14", "tls", "true"),
			),
		},
	}
}

func TestBuild(t *testing.T) {
	half, one := 0.5, 1.0
	tests := []struct {
		name      string
		data      func() []clusterData
		workloads []WorkloadStat
		edges     []string
		check     func(t *testing.T, ov Overview)
	}{
		{
			name: "federation",
			data: federation,
			workloads: []WorkloadStat{
				{Workload{"east", "demo", "deployment/voting"}, Golden{RPS: 4, SuccessRate: &half, TLSShare: &one}},
				{Workload{"west", "demo", "deployment/emoji"}, Golden{RPS: 10, SuccessRate: &one, TLSShare: &one, P50: ptr(0.5), P95: ptr(0.95)}},
				{Workload{"west", "demo", "deployment/web"}, Golden{}},
			},
			edges: []string{"deployment/web -> deployment/voting@east", "deployment/web -> deployment/emoji"},
			check: func(t *testing.T, ov Overview) {
				e := ov.Edges[0]
				if e.Dst != (Workload{"east", "demo", "deployment/voting"}) || e.Gateway != "east" {
					t.Errorf("cross-cluster edge's destination %+v through %q, want east's voting through east", e.Dst, e.Gateway)
				}
				if *e.SuccessRate != 0.5 || e.RPS != 4 || e.P50 == nil || *e.P50 != 5 {
					t.Errorf("cross-cluster edge %+v, want 4 rps at 50%% and p50 5ms", e.Golden)
				}
				want := []Link{{Cluster: "west", Remote: "east", RemoteState: "healthy", GatewayDialsPerSec: 0.5, GatewayDialSuccess: ptr(1.0), GatewayAlive: ptr(true)}}
				if diff := cmp.Diff(want, ov.Links); diff != "" {
					t.Errorf("links (-want +got):\n%s", diff)
				}
			},
		},
		{
			// Without east's answers, west's call is still an edge: to the Service it asked for.
			name:  "remote cluster unknown",
			data:  func() []clusterData { return federation()[:1] },
			edges: []string{"deployment/web -> service/voting-east@east", "deployment/web -> deployment/emoji"},
		},
		{
			// east's voting served a caller of another trust domain at the same host: not web's.
			name: "remote workload from another caller's cluster",
			data: func() []clusterData {
				d := federation()
				for _, s := range d[1].inbound {
					s.Metric["client_id"] = "spiffe://north.meshfed.local/ns/demo/sa/web"
				}
				return d
			},
			edges: []string{"deployment/web -> service/voting-east@east", "deployment/web -> deployment/emoji"},
		},
		{
			name: "cluster failed",
			data: func() []clusterData {
				d := federation()
				d[1] = clusterData{Source: d[1].Source, err: errors.New("prometheus of east: connection refused")}
				return d
			},
			edges: []string{"deployment/web -> service/voting-east@east", "deployment/web -> deployment/emoji"},
			check: func(t *testing.T, ov Overview) {
				want := []ClusterStatus{{Name: "west"}, {Name: "east", Error: "prometheus of east: connection refused"}}
				if diff := cmp.Diff(want, ov.Clusters); diff != "" {
					t.Errorf("clusters (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "link unreachable and tunnels failing",
			data: func() []clusterData {
				d := federation()
				// From a link controller older than the remote_cluster label.
				d[0].linkState = vec(s(2, "link", "mesh-multicluster/east"))
				d[0].gatewayDials = vec(s(1, "remote_cluster", "east", "result", "dial_error"), s(1, "remote_cluster", "north", "result", "dial_error"))
				return d
			},
			edges: []string{"deployment/web -> deployment/voting@east", "deployment/web -> deployment/emoji"},
			check: func(t *testing.T, ov Overview) {
				want := []Link{
					{Cluster: "west", Remote: "east", RemoteState: "unreachable", GatewayDialsPerSec: 1, GatewayDialSuccess: ptr(0.0), GatewayAlive: ptr(false)},
					{Cluster: "west", Remote: "north", GatewayDialsPerSec: 1, GatewayDialSuccess: ptr(0.0), GatewayAlive: ptr(false)},
				}
				if diff := cmp.Diff(want, ov.Links); diff != "" {
					t.Errorf("links (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "an edge to another namespace and to an address",
			data: func() []clusterData {
				return []clusterData{{
					Source: Source{Cluster: "west", TrustDomain: "west.meshfed.local"},
					outbound: vec(
						s(1, "namespace", "demo", "src_workload", "deployment/web", "dst_workload", "deployment/db", "authority", "db.data:5432", "server_id", "spiffe://west.meshfed.local/ns/data/sa/db", "status_code", "200", "tls", "true"),
						s(1, "namespace", "demo", "src_workload", "deployment/web", "authority", "10.0.0.1:80", "status_code", "200", "tls", "false"),
						s(1, "namespace", "demo", "authority", "nobody:80", "status_code", "200", "tls", "false"),
					),
				}}
			},
			edges: []string{"deployment/web -> data/deployment/db", "deployment/web -> service/10.0.0.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ov := build(tt.data(), "1m")
			if tt.workloads != nil {
				if diff := cmp.Diff(tt.workloads, ov.Workloads); diff != "" {
					t.Errorf("workloads (-want +got):\n%s", diff)
				}
			}
			var names []string
			for _, e := range ov.Edges {
				names = append(names, e.Name)
			}
			if diff := cmp.Diff(tt.edges, names); diff != "" {
				t.Errorf("edges (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, ov)
			}
			if _, err := json.Marshal(ov); err != nil {
				t.Errorf("the overview does not encode: %v", err)
			}
		})
	}
}
