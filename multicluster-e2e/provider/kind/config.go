package kind

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

// DefaultNodeImage is the node image of kind v0.33.0 for Kubernetes 1.35, pinned by digest as
// kind's release notes require: a tag alone may name an image built for another kind release.
// No kind release ships v1.35.4, the version the local clusters build; build one with
// `kind build node-image --type release v1.35.4` and pass it to run the very same version.
const DefaultNodeImage = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"

// configTemplate is a kind Config for one cluster of one node. It leaves kubeadm's CoreDNS in
// place: kind runs kubeadm init with --skip-phases on its command line, which overrides any
// skipPhases a config patch could set, so installAddons replaces it instead.
var configTemplate = template.Must(template.New("config").Option("missingkey=error").Parse(`# The kind cluster {{ .KindName }}, rendered by the meshfed kind provider.
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: {{ .KindName }}
networking:
  podSubnet: {{ .PodCIDR }}
  serviceSubnet: {{ .ServiceCIDR }}
nodes:
- role: control-plane
  image: {{ .Image }}
`))

// renderConfig returns the kind Config of cluster c with nodes running image.
func renderConfig(c cluster, image string) ([]byte, error) {
	if image == "" || strings.ContainsAny(image, " \t\r\n#\"'") {
		return nil, fmt.Errorf("node image %q is not an image reference: give one such as %s", image, DefaultNodeImage)
	}
	var b bytes.Buffer
	err := configTemplate.Execute(&b, struct {
		KindName, PodCIDR, ServiceCIDR, Image string
	}{c.kindName(), c.PodCIDR.String(), c.ServiceCIDR.String(), image})
	if err != nil {
		return nil, fmt.Errorf("rendering the kind config of %s: %w", c.Name, err)
	}
	return b.Bytes(), nil
}

// imageVersion returns the Kubernetes version a kindest/node image runs, read from its tag,
// as "v1.35.8"; empty when the tag does not say.
func imageVersion(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	tag := ref[i+1:]
	if !strings.HasPrefix(tag, "v") || strings.Count(tag, ".") != 2 {
		return ""
	}
	return tag
}
