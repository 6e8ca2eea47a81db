package build

// The add-ons every local cluster runs as pods, each built from its own tools module.

// CertManager builds cert-manager's controller, webhook and cainjector. v1.11.5 is the last
// release whose commands are in its main module, which the module proxy serves.
func CertManager() Tool {
	return Tool{
		Name:    "cert-manager",
		Version: "v1.11.5",
		Packages: []string{
			"github.com/cert-manager/cert-manager/cmd/controller",
			"github.com/cert-manager/cert-manager/cmd/webhook",
			"github.com/cert-manager/cert-manager/cmd/cainjector",
		},
		// Without it the binaries say they are "canary".
		LDFlags: []string{"-X", "github.com/cert-manager/cert-manager/pkg/util.AppVersion=v1.11.5"},
	}
}

// MetalLB builds the LoadBalancer implementation: its controller and L2 speaker.
func MetalLB() Tool {
	return Tool{
		Name:     "metallb",
		Version:  "v0.15.2",
		Packages: []string{"go.universe.tf/metallb/controller", "go.universe.tf/metallb/speaker"},
	}
}
