package build

import "strings"

// KubernetesVersion is the Kubernetes release the local clusters run.
const KubernetesVersion = "v1.35.4"

// Kubernetes is the tool that builds the control plane, node components and kubectl.
func Kubernetes() Tool {
	parts := strings.SplitN(strings.TrimPrefix(KubernetesVersion, "v"), ".", 3)
	major, minor := parts[0], parts[1]
	var ldflags []string
	// Stamped in both places a binary reads its version from, so `kubectl version` and
	// `kubectl get nodes` say v1.35.4 and not v0.0.0-master.
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ldflags = append(ldflags,
			"-X", pkg+".gitVersion="+KubernetesVersion,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return Tool{
		Name:    "kubernetes",
		Version: KubernetesVersion,
		Packages: []string{
			"k8s.io/kubernetes/cmd/kube-apiserver",
			"k8s.io/kubernetes/cmd/kube-controller-manager",
			"k8s.io/kubernetes/cmd/kube-scheduler",
			"k8s.io/kubernetes/cmd/kubelet",
			"k8s.io/kubernetes/cmd/kube-proxy",
			"k8s.io/kubernetes/cmd/kubectl",
		},
		LDFlags: ldflags,
	}
}
