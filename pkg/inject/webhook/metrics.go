package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/pkg/inject"
)

// Results of an admission beside inject's outcomes, as the metric's label.
const (
	// ResultInvalid: an annotation value inject does not take.
	ResultInvalid = "invalid"
	// ResultNoBundle: the pod asked for the proxy before the trust bundle was read.
	ResultNoBundle = "no-bundle"
	// ResultError: a request the webhook could not read, or a patch it could not make.
	ResultError = "error"
	// ResultIgnored: not a pod being created (the webhook's rules should not send those).
	ResultIgnored = "ignored"
)

// Metrics count the webhook's admissions by result.
type Metrics struct {
	injections *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{injections: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_injector_injections_total",
		Help: "Pods the injector was asked about, by result: injected, or why not.",
	}, []string{"result"})}
	if err := reg.Register(m.injections); err != nil {
		return nil, err
	}
	// Every result from the start at 0, so that a rate of any of them is defined.
	for _, r := range []string{
		string(inject.Injected), string(inject.NotEnabled), string(inject.Disabled), string(inject.AlreadyInjected),
		string(inject.HostNetwork), string(inject.PortConflict), ResultInvalid, ResultNoBundle, ResultError, ResultIgnored,
	} {
		m.injections.WithLabelValues(r)
	}
	return m, nil
}

func (m *Metrics) count(result string) {
	if m != nil {
		m.injections.WithLabelValues(result).Inc()
	}
}
