package mirror

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The link controller's own metrics, beside controller-runtime's per-controller ones
// (reconcile counts, errors and latency, queue depth), on the manager's metrics endpoint.
var (
	mirrorsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshfed_link_mirrors",
		Help: "Exports of the remote cluster mirrored here, per Link.",
	}, []string{"link"})
	remoteStateGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshfed_link_remote_state",
		Help: "State of the remote watch per Link and the cluster it links to: 0 starting, 1 healthy, 2 unreachable, 3 not running (credentials).",
	}, []string{"link", "remote_cluster"})
	reconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meshfed_link_mirror_reconcile_seconds",
		Help:    "Time to reconcile the mirrors of one remote Service, per Link.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"link"})
)

func init() {
	// controller-runtime's registry is process-wide; registering once is what its own
	// metrics do.
	metrics.Registry.MustRegister(mirrorsGauge, remoteStateGauge, reconcileSeconds)
}
