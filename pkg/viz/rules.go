package viz

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// The series the recording rules make: per workload and per edge, over DefaultWindow.
const (
	recordedInbound         = "meshfed:inbound_requests:rate1m"
	recordedOutbound        = "meshfed:outbound_requests:rate1m"
	recordedInboundLatency  = "meshfed:inbound_latency_bucket:rate1m"
	recordedOutboundLatency = "meshfed:outbound_latency_bucket:rate1m"
	recordedGatewayDials    = "meshfed:gateway_dials:rate1m"
)

// recordingRules are the rules: the record's name and what it sums, over DefaultWindow.
func recordingRules() [][2]string {
	w := model.Duration(DefaultWindow).String()
	return [][2]string{
		{recordedInbound, fmt.Sprintf(`sum by (namespace, dst_workload, authority, client_id, status_code, grpc_status, tls) (rate(%s{direction="inbound"}[%s]))`, metricRequests, w)},
		{recordedOutbound, fmt.Sprintf(`sum by (namespace, src_workload, dst_workload, remote_cluster, authority, server_id, status_code, grpc_status, tls) (rate(%s{direction="outbound"}[%s]))`, metricRequests, w)},
		{recordedInboundLatency, fmt.Sprintf(`sum by (namespace, dst_workload, le) (rate(%s{direction="inbound"}[%s]))`, metricLatency, w)},
		{recordedOutboundLatency, fmt.Sprintf(`sum by (namespace, src_workload, dst_workload, remote_cluster, authority, le) (rate(%s{direction="outbound"}[%s]))`, metricLatency, w)},
		{recordedGatewayDials, fmt.Sprintf(`sum by (remote_cluster, result) (rate(%s[%s]))`, metricGwDials, w)},
	}
}

// RecordingRules is the Prometheus rules file that each cluster's Prometheus loads (mesh viz
// install puts it beside its config): at every evaluation, every interval, it sums the
// proxies' raw series into one series per workload and per edge over DefaultWindow. A
// server made WithRecordingRules then answers for that window from those few series, not
// from a pass over every raw sample of every pod: the cost of an answer follows the number
// of workloads, not of pods and samples.
func RecordingRules(interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "groups:\n- name: meshfed-viz\n  interval: %s\n  rules:\n", model.Duration(interval))
	for _, r := range recordingRules() {
		fmt.Fprintf(&b, "  - record: %s\n    expr: '%s'\n", r[0], r[1])
	}
	return b.String()
}

// recordedQueries are queries for DefaultWindow that read the recorded series.
func recordedQueries() queries {
	q := queries{
		inbound:      recordedInbound,
		outbound:     recordedOutbound,
		gatewayDials: recordedGatewayDials,
		linkState:    fmt.Sprintf(`max by (link, remote_cluster) (%s)`, metricLinkSt),
	}
	for i, qt := range quantiles {
		q.inboundLatency[i] = fmt.Sprintf(`histogram_quantile(%g, %s)`, qt, recordedInboundLatency)
		q.outboundLatency[i] = fmt.Sprintf(`histogram_quantile(%g, %s)`, qt, recordedOutboundLatency)
	}
	return q
}

// recordedSeriesQueries are seriesQueries for DefaultWindow over the recorded series.
func recordedSeriesQueries() (requests, p99 string) {
	return fmt.Sprintf(`sum by (namespace, dst_workload, status_code, grpc_status) (%s)`, recordedInbound),
		fmt.Sprintf(`histogram_quantile(0.99, %s)`, recordedInboundLatency)
}
