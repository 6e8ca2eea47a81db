package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a caller or a tunnel is refused, the label of meshfed_gateway_refused_total.
const (
	ReasonHandshake    = "handshake"     // the TLS handshake failed: no certificate, TLS 1.2, no ALPN, a timeout
	ReasonUntrusted    = "untrusted"     // the caller's certificate does not chain to the bundle
	ReasonNotAllowed   = "not_allowed"   // the caller's cluster is not on the allow list
	ReasonMethod       = "method"        // not a CONNECT
	ReasonBadAuthority = "bad_authority" // not <svc>.<ns>.svc.<cluster-domain>:<port>
	ReasonUnknown      = "unknown"       // no such Service in the mesh
	ReasonNotMeshed    = "not_meshed"    // the endpoint picked has no proxy to carry mTLS to
	ReasonNoEndpoints  = "no_endpoints"  // the Service has no ready endpoint
	ReasonResolve      = "resolve"       // the destination service did not answer
	ReasonDial         = "dial"          // the pod refused or did not answer
	ReasonShuttingDown = "shutting_down" // the gateway drains
)

// metrics are the gateway's, per remote cluster (the caller's, by its trust domain).
type metrics struct {
	sessions    *prometheus.GaugeVec
	tunnelsOpen *prometheus.GaugeVec
	tunnels     *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	refused     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshfed_gateway_sessions_open", Help: "Outer mTLS sessions open, by remote cluster.",
		}, []string{"cluster"}),
		tunnelsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshfed_gateway_connections_open", Help: "Tunnels (CONNECT streams) open to a pod, by remote cluster.",
		}, []string{"cluster"}),
		tunnels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_gateway_connections_total", Help: "Tunnels (CONNECT streams) opened to a pod, by remote cluster.",
		}, []string{"cluster"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_gateway_bytes_total", Help: "Bytes carried in tunnels, by remote cluster and direction: in from the remote caller, out to it.",
		}, []string{"cluster", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_gateway_refused_total", Help: "Callers and tunnels refused, by remote cluster (empty when unknown) and reason.",
		}, []string{"cluster", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.tunnelsOpen, m.tunnels, m.bytes, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
