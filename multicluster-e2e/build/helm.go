package build

// Helm builds the helm CLI, with which deploy/'s test renders and lints the chart
// deploy/charts/meshfed: the same renderer users run. hack/tools/helm pins the same version.
func Helm() Tool {
	return Tool{
		Name:     "helm",
		Version:  "v3.22.0",
		Packages: []string{"helm.sh/helm/v3/cmd/helm"},
		// Without it helm says it is v3.22, with no patch release.
		LDFlags: []string{"-X", "helm.sh/helm/v3/internal/version.version=v3.22.0"},
	}
}
