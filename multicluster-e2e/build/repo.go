package build

// Registry and Version name this repository's images, as deploy/ does.
const (
	Registry = "ghcr.io/meshfed"
	Version  = "dev"
)

// RepoImage is the image name of one of this repository's binaries.
func RepoImage(binary string) string { return Registry + "/" + binary + ":" + Version }

// Tools lists every tool built from a module under hack/tools.
func Tools() []Tool {
	return []Tool{Kubernetes(), CertManager(), MetalLB(), Helm(), Prometheus()}
}

// ToolByName returns the tool built from hack/tools/<name>.
func ToolByName(name string) (Tool, bool) {
	for _, t := range Tools() {
		if t.Name == name {
			return t, true
		}
	}
	return Tool{}, false
}
