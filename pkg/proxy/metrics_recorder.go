package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/pkg/trust"
)

// MetricsRecorder writes the proxy's request metrics exactly as a proxy of Workload does,
// through the same code, for a program that stands in for proxies' traffic without carrying
// any: pkg/viz's tests and benchmark feed a real Prometheus with it, so a change to the
// proxy's metrics shows there. A proxy never uses it: it records as it serves.
type MetricsRecorder struct {
	m        *metrics
	workload string
}

// NewMetricsRecorder registers the proxy's metrics on reg, as a proxy of workload would.
func NewMetricsRecorder(reg prometheus.Registerer, workload string) (*MetricsRecorder, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &MetricsRecorder{m: m, workload: workload}, nil
}

// Outbound records a request the app sent to authority, carried to ep, answered with code
// (and grpcStatus, empty but for gRPC) after took.
func (r *MetricsRecorder) Outbound(ep Endpoint, authority string, code int, grpcStatus string, took time.Duration) {
	r.m.request(sidesOf("outbound", r.workload, ep, nil), authority, code, grpcStatus, took)
}

// Inbound records a request from client (nil for plaintext) for authority, answered by the
// app with code (and grpcStatus, empty but for gRPC) after took.
func (r *MetricsRecorder) Inbound(client *trust.ID, authority string, code int, grpcStatus string, took time.Duration) {
	r.m.request(sidesOf("inbound", r.workload, Endpoint{}, client), authority, code, grpcStatus, took)
}

// GatewayDial records a tunnel opened through cluster's gateway, with its result (ok,
// dial_error, ...).
func (r *MetricsRecorder) GatewayDial(cluster, result string) { r.m.gatewayDial(cluster, result) }
