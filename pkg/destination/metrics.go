package destination

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the destination service's own: how many streams are open, what they are sent,
// and how long a change takes from the informer to the wire.
type Metrics struct {
	subscribers prometheus.Gauge
	updates     *prometheus.CounterVec
	latency     prometheus.Histogram
}

// NewMetrics registers the service's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshfed_destination_subscribers",
			Help: "Get streams open.",
		}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_destination_updates_total",
			Help: "Updates sent on Get streams, by kind: add, remove, no_endpoints.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshfed_destination_update_latency_seconds",
			Help:    "Time from the first informer event behind a change to its Update sent on a stream, once per stream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
		}),
	}
	for _, c := range []prometheus.Collector{m.subscribers, m.updates, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
