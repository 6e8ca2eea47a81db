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
	reqLabels := []string{"direction", "authority", "src_workload", "dst_workload", "client_id", "server_id", "remote_cluster", "status_code", "tls"}
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
		}, []string{"direction", "tls"}),
		tcpCloses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_tcp_close_total", Help: "TCP streams carried, closed.",
		}, []string{"direction", "tls"}),
		tcpBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_proxy_tcp_bytes_total", Help: "Bytes carried in TCP streams, by way: read from the client or written to it.",
		}, []string{"direction", "tls", "way"}),
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

// request counts one HTTP request. For outbound, ep is the server endpoint; for inbound,
// client is the peer's identity.
func (m *metrics) request(direction, authority, workload string, ep Endpoint, client *trust.ID, code int, took time.Duration) {
	src, dst := workload, ep.Labels["workload"]
	clientID, serverID, tls := "", "", "false"
	if direction == "inbound" {
		src, dst = "", workload
		if client != nil {
			clientID, tls = client.String(), "true"
		}
	} else if ep.meshed() {
		serverID, tls = idString(ep.Identity), "true"
	}
	remote := ep.Labels["cluster"]
	if ep.Gateway != nil && ep.Gateway.Cluster != "" {
		remote = ep.Gateway.Cluster
	}
	m.requests.WithLabelValues(direction, authority, src, dst, clientID, serverID, remote, strconv.Itoa(code), tls).Inc()
	m.latency.WithLabelValues(direction, authority, src, dst, remote).Observe(took.Seconds())
}

func (m *metrics) tcpOpen(direction string, tls bool) {
	m.tcpOpens.WithLabelValues(direction, strconv.FormatBool(tls)).Inc()
}

func (m *metrics) tcpClose(direction string, tls bool, read, written int64) {
	t := strconv.FormatBool(tls)
	m.tcpCloses.WithLabelValues(direction, t).Inc()
	m.tcpBytes.WithLabelValues(direction, t, "read").Add(float64(read))
	m.tcpBytes.WithLabelValues(direction, t, "write").Add(float64(written))
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
