package build

// PrometheusVersion is the Prometheus release hack/tools/prometheus pins (module v0.53.4 is
// Prometheus 2.53.4): the one whose official image, prom/prometheus:v2.53.4, mesh viz
// install names, and under which the local clusters tag theirs.
const PrometheusVersion = "v2.53.4"

// Prometheus builds the Prometheus server that mesh viz install runs in every cluster. Debian's
// prometheus package, which pkg/viz's unit tests run on loopback, is built without
// kubernetes_sd, which the in-cluster configuration needs: hence a build of our own.
func Prometheus() Tool {
	return Tool{
		Name:     "prometheus",
		Version:  PrometheusVersion,
		Packages: []string{"github.com/prometheus/prometheus/cmd/prometheus"},
		// Without them the binary says it is version "" of no branch; /api/v1/status/buildinfo
		// and prometheus_build_info then claim nothing.
		LDFlags: []string{
			"-X", "github.com/prometheus/common/version.Version=2.53.4",
			"-X", "github.com/prometheus/common/version.Branch=HEAD",
		},
	}
}
