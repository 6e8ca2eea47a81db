// Package viztest runs what pkg/viz's tests, benchmark and dashboard test read: a real
// Prometheus (the `prometheus` binary, from Debian's package, which hack/install-deps.sh
// installs) per cluster, scraping real /metrics endpoints on loopback that carry the proxy's
// own metrics (proxy.MetricsRecorder) for made-up traffic.
//
// It talks only to 127.0.0.1, and every process and file it makes goes when the test ends.
// It does not carry traffic: the counters move as a proxy's would, at the rates a scenario
// says, so a test knows the answer the viz API must give.
package viztest
