package proxy

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/pkg/trust"
)

// metrics are the proxy's, labelled as Linkerd's are: by direction, and by the workload and
// identity on each side, and the remote cluster where there is one.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	tcpOpens  *prometheus.CounterVec
	tcpCloses *prometheus.CounterVec
	tcpBytes  *prometheus.CounterVec
	tlsFails  *prometheus.CounterVec
	denials   *prometheus.CounterVec
	gwDials   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	// grpc_status is the gRPC status of a gRPC response (its grpc-status trailer, or header
	// for a trailers-only one), empty for other HTTP: a failed gRPC call is an HTTP 200.
	reqLabels := []string{"direction", "authority", "src_workload", "dst_workload", "client_id", "server_id", "remote_cluster", "status_code", "grpc_status", "tls"}
	tcpLabels := []string{"direction", "src_workload", "dst_workload", "client_id", "server_id", "remote_cluster", "tls"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_requests_total", Help: "HTTP requests, by direction, both sides and response status.",
		}, reqLabels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshfed_proxy_response_latency_seconds", Help: "Time to the end of the response.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"direction", "authority", "src_workload", "dst_workload", "remote_cluster"}),
		tcpOpens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_tcp_open_total", Help: "TCP streams carried, opened.",
		}, tcpLabels),
		tcpCloses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_tcp_close_total", Help: "TCP streams carried, closed.",
		}, tcpLabels),
		tcpBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_tcp_bytes_total", Help: "Bytes carried in TCP streams, by way: read from the client or written to it.",
		}, append(tcpLabels, "way")),
		tlsFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_tls_handshake_failures_total", Help: "mTLS handshakes that failed.",
		}, []string{"direction"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_inbound_denied_total", Help: "Inbound connections refused by policy.",
		}, []string{"port", "client_id"}),
		gwDials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_gateway_dials_total", Help: "Tunnels opened through another cluster's east-west gateway, by cluster and result: ok, dial_error, gateway_tls_error, refused, connect_error, inner_tls_error.",
		}, []string{"remote_cluster", "result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.tcpOpens, m.tcpCloses, m.tcpBytes, m.tlsFails, m.denials, m.gwDials} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sides are the label values that say who talked to whom: the workload and identity on each
// side, the remote cluster where there is one, and whether it was mTLS.
type sides struct {
	direction, src, dst, clientID, serverID, remote, tls string
}

// sidesOf names both sides of a stream. For outbound, ep is the server endpoint; for
// inbound, client is the peer's identity.
func sidesOf(direction, workload string, ep Endpoint, client *trust.ID) sides {
	s := sides{direction: direction, src: workload, dst: ep.Labels["workload"], tls: "false", remote: ep.Labels["cluster"]}
	if direction == "inbound" {
		s.src, s.dst = "", workload
		if client != nil {
			s.clientID, s.tls = client.String(), "true"
		}
	} else if ep.meshed() {
		s.serverID, s.tls = idString(ep.Identity), "true"
	}
	if ep.Gateway != nil && ep.Gateway.Cluster != "" {
		s.remote = ep.Gateway.Cluster
	}
	return s
}

// request counts one HTTP request, answered with code and, for gRPC, grpcStatus.
func (m *metrics) request(s sides, authority string, code int, grpcStatus string, took time.Duration) {
	m.requests.WithLabelValues(s.direction, authority, s.src, s.dst, s.clientID, s.serverID, s.remote, strconv.Itoa(code), grpcStatus, s.tls).Inc()
	m.latency.WithLabelValues(s.direction, authority, s.src, s.dst, s.remote).Observe(took.Seconds())
}

func (m *metrics) tcpOpen(s sides) {
	m.tcpOpens.WithLabelValues(s.direction, s.src, s.dst, s.clientID, s.serverID, s.remote, s.tls).Inc()
}

func (m *metrics) tcpClose(s sides, read, written int64) {
	m.tcpCloses.WithLabelValues(s.direction, s.src, s.dst, s.clientID, s.serverID, s.remote, s.tls).Inc()
	m.tcpBytes.WithLabelValues(s.direction, s.src, s.dst, s.clientID, s.serverID, s.remote, s.tls, "read").Add(float64(read))
	m.tcpBytes.WithLabelValues(s.direction, s.src, s.dst, s.clientID, s.serverID, s.remote, s.tls, "write").Add(float64(written))
}

func (m *metrics) gatewayDial(cluster, result string) {
	m.gwDials.WithLabelValues(cluster, result).Inc()
}

func (m *metrics) tlsFailure(direction string) { m.tlsFails.WithLabelValues(direction).Inc() }

func (m *metrics) denied(port uint16, client *trust.ID) {
	m.denials.WithLabelValues(strconv.Itoa(int(port)), idString(client)).Inc()
}

func idString(id *trust.ID) string {
	if id == nil {
		return ""
	}
	return id.String()
}
