package membership

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one member's. They live on the Registerer of its Config, not on a global
// registry, so that a test or a bench can run several members in one process.
type metrics struct {
	rtt     prometheus.Histogram
	refused *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	// The counters the transport adds to on every packet, looked up once.
	packetSent, packetReceived, streamSent, streamReceived prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshfed_membership_probe_rtt_seconds",
			Help:    "Round trip of this member's direct probes that were answered.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14), // 100µs .. ~1.6s
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_membership_refused_connections_total",
			Help: "Gossip connections refused, by direction (inbound: a peer dialled us; outbound: we dialled) and reason (no_certificate, untrusted, not_allowed, handshake, protocol, peer_refused).",
		}, []string{"direction", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_membership_transport_bytes_total",
			Help: "Bytes of gossip carried, before TLS, by direction (sent, received) and kind (packet, with its 4-byte frame header; stream).",
		}, []string{"direction", "kind"}),
	}
	m.packetSent = m.bytes.WithLabelValues("sent", "packet")
	m.packetReceived = m.bytes.WithLabelValues("received", "packet")
	m.streamSent = m.bytes.WithLabelValues("sent", "stream")
	m.streamReceived = m.bytes.WithLabelValues("received", "stream")
	return m
}

// register registers the metrics and members, a gauge per state read at scrape time.
func (m *metrics) register(reg prometheus.Registerer, members func(State) int) error {
	cs := []prometheus.Collector{m.rtt, m.refused, m.bytes}
	for _, s := range []State{Alive, Suspect, Dead, Left} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "meshfed_membership_members",
			Help:        "Members of the gossip pool as this member sees them, by state; itself included. Dead and Left are kept for a while after the change.",
			ConstLabels: prometheus.Labels{"state": s.String()},
		}, func() float64 { return float64(members(s)) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
