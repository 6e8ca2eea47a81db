package viz

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// The metrics the server reads (pkg/proxy, pkg/mirror): their names and labels are an API
// between those packages and this one.
const (
	metricRequests = "meshfed_proxy_requests_total"
	metricLatency  = "meshfed_proxy_response_latency_seconds_bucket"
	metricGwDials  = "meshfed_proxy_gateway_dials_total"
	metricLinkSt   = "meshfed_link_remote_state"
	// labelNamespace is the pod's namespace, which Prometheus' scrape config adds to every
	// series of a pod (mesh viz install's does); the proxy does not know to.
	labelNamespace = "namespace"
)

// quantiles are the latency quantiles the server asks for: p50, p95, p99.
var quantiles = [3]float64{0.5, 0.95, 0.99}

// queries are the PromQL the server asks each cluster, for one window. Latency quantiles are
// Prometheus' histogram_quantile, one query each: an answer of one series per workload
// costs far less to send and read than the buckets (fourteen per workload) would.
type queries struct {
	inbound, outbound, gatewayDials, linkState string
	inboundLatency, outboundLatency            [3]string
}

func newQueries(window time.Duration) queries {
	w := model.Duration(window).String()
	q := queries{
		inbound:      fmt.Sprintf(`sum by (namespace, dst_workload, authority, client_id, status_code, grpc_status, tls) (rate(%s{direction="inbound"}[%s]))`, metricRequests, w),
		outbound:     fmt.Sprintf(`sum by (namespace, src_workload, dst_workload, remote_cluster, authority, server_id, status_code, grpc_status, tls) (rate(%s{direction="outbound"}[%s]))`, metricRequests, w),
		gatewayDials: fmt.Sprintf(`sum by (remote_cluster, result) (rate(%s[%s]))`, metricGwDials, w),
		linkState:    fmt.Sprintf(`max by (link, remote_cluster) (%s)`, metricLinkSt),
	}
	for i, qt := range quantiles {
		q.inboundLatency[i] = fmt.Sprintf(`histogram_quantile(%g, sum by (namespace, dst_workload, le) (rate(%s{direction="inbound"}[%s])))`, qt, metricLatency, w)
		q.outboundLatency[i] = fmt.Sprintf(`histogram_quantile(%g, sum by (namespace, src_workload, dst_workload, remote_cluster, authority, le) (rate(%s{direction="outbound"}[%s])))`, qt, metricLatency, w)
	}
	return q
}

// seriesQueries are the range queries of the charts: requests by status, and p99.
func seriesQueries(window time.Duration) (requests, p99 string) {
	w := model.Duration(window).String()
	return fmt.Sprintf(`sum by (namespace, dst_workload, status_code, grpc_status) (rate(%s{direction="inbound"}[%s]))`, metricRequests, w),
		fmt.Sprintf(`histogram_quantile(0.99, sum by (namespace, dst_workload, le) (rate(%s{direction="inbound"}[%s])))`, metricLatency, w)
}

// clusterData is one cluster's answers to queries.
type clusterData struct {
	Source
	inbound, outbound, gatewayDials, linkState model.Vector
	// The latency quantiles, in seconds, in the order of quantiles.
	inboundLatency, outboundLatency [3]model.Vector
	err                             error
}

// success says whether a response counts as a success: an HTTP status below 500 and, for
// gRPC, the status OK (a failed gRPC call is an HTTP 200 with a grpc-status other than 0).
// A request the proxy failed itself (no endpoint, a refused tunnel) carries the 5xx it
// answered with.
func success(m model.Metric) bool {
	g := m["grpc_status"]
	return !strings.HasPrefix(string(m["status_code"]), "5") && (g == "" || g == "0")
}

// host is an authority without its port.
func host(authority string) string {
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		return authority[:i]
	}
	return authority
}

// spiffeParts returns the trust domain and namespace of a SPIFFE ID
// spiffe://<td>/ns/<ns>/sa/<sa>; empty when it is not one.
func spiffeParts(id string) (td, ns string) {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return "", ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return "", ""
	}
	return parts[0], parts[2]
}

// serviceOf names the Service an authority's host asks for, and its namespace when the
// host says it: "voting-east.demo.svc.cluster.local" is voting-east in demo, "web" is web.
// An IP address is no Service: it is named as it is.
func serviceOf(h string) (name, ns string) {
	if h == "" {
		return "", ""
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return h, ""
	}
	parts := strings.Split(h, ".")
	if len(parts) >= 2 {
		return parts[0], parts[1]
	}
	return parts[0], ""
}
