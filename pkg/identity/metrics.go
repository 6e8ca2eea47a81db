package identity

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the identity service's own: what it issues, how fast, and how long its issuer
// has left.
type Metrics struct {
	certify        *prometheus.CounterVec
	certifySeconds prometheus.Histogram
}

// NewMetrics registers the service's metrics with reg; issuer is read at each scrape for the
// issuer's remaining life.
func NewMetrics(reg prometheus.Registerer, issuer func() *Issuer) (*Metrics, error) {
	m := &Metrics{
		certify: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_identity_certify_total",
			Help: "Certify requests, by gRPC code: OK is a leaf issued.",
		}, []string{"code"}),
		certifySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshfed_identity_certify_seconds",
			Help:    "Time to answer Certify, token review and signature included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meshfed_identity_issuer_expiry_seconds",
		Help: "Seconds until the current issuer expires; negative or absent means leaves cannot be issued.",
	}, func() float64 {
		iss := issuer()
		if iss == nil {
			return 0
		}
		return time.Until(iss.CA.Cert.NotAfter).Seconds()
	})
	for _, c := range []prometheus.Collector{m.certify, m.certifySeconds, expiry} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
