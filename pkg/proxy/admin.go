package proxy

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshfed/meshfed/pkg/proxy/certs"
)

func adminHandler(c *certs.Manager, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-c.Ready():
			fmt.Fprintln(w, "ready")
		default:
			http.Error(w, "no certificate yet: waiting for the identity service", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/live", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "live") })
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

// NewAdminHandler is the admin handler of any process that holds a leaf from c, as the
// proxy's: /ready once the first leaf is held, /live, and /metrics from gatherer. The
// east-west gateway serves it too.
func NewAdminHandler(c *certs.Manager, gatherer prometheus.Gatherer) http.Handler {
	return adminHandler(c, gatherer)
}
