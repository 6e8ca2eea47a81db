package multicluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// InstallOptions are the options of `mesh multicluster install`.
type InstallOptions struct {
	Registry string
	Version  string

	image string // set by Complete
	cmdutil.IOStreams
}

func newCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &InstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Print the multicluster components of a cluster, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, what every cluster of a federation runs:

  - the Link CRD (links.multicluster.meshfed.io);
  - the namespace mesh-multicluster;
  - the link controller (Deployment link-controller) and its least-privilege RBAC;
  - the remote reader: a ServiceAccount other clusters read this one as, allowed to get,
    list and watch Services, Pods, EndpointSlices and ServiceExports and nothing else, and
    a Secret holding its long-lived token (remote-reader-token).

It reads no cluster: apply its output to each cluster of the federation, then join them
with 'mesh multicluster link'.`,
		Example: `  # Install in the clusters west and east
  mesh multicluster install | kubectl --context west apply -f -
  mesh multicluster install | kubectl --context east apply -f -

  # Run the link controller from your own registry
  mesh multicluster install --registry registry.example.com/meshfed --version v0.1.0 | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.Registry, "registry", DefaultRegistry, "registry and path the link controller's image is pulled from: <registry>/link:<version>")
	cmd.Flags().StringVar(&o.Version, "version", DefaultVersion, "tag of the link controller's image")
	return cmd
}

// Complete makes the image from the flags.
func (o *InstallOptions) Complete() error {
	o.image = strings.TrimSuffix(o.Registry, "/") + "/link:" + o.Version
	return nil
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Validate checks the flags.
func (o *InstallOptions) Validate() error {
	switch {
	case o.Registry == "":
		return fmt.Errorf("--registry is empty: give the registry and path of meshfed's images, such as %s", DefaultRegistry)
	case strings.Contains(o.Registry, "://"):
		return fmt.Errorf("--registry %q holds a scheme: give host and path only, such as %s", o.Registry, DefaultRegistry)
	case !tagRE.MatchString(o.Version):
		return fmt.Errorf("--version %q is not an image tag: use letters, digits, '_', '.' and '-', at most 128, such as v0.1.0", o.Version)
	}
	if _, err := name.NewTag(o.image, name.StrictValidation); err != nil {
		return fmt.Errorf("--registry %q makes the image %q, which is not a valid image reference (%v): give host and path, such as %s", o.Registry, o.image, err, DefaultRegistry)
	}
	return nil
}

// Run prints the manifests.
func (o *InstallOptions) Run() error {
	objs, err := installObjects(o.image)
	if err != nil {
		return err
	}
	for i, u := range objs {
		if err := cmdutil.PrintYAMLMap(o.Out, u.Object, i > 0); err != nil {
			return err
		}
	}
	return nil
}

// installObjects returns the objects install prints, in the order to apply them, with the
// link controller's image set.
func installObjects(image string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, m := range append(deploy.CRDs(), deploy.Multicluster()...) {
		docs, err := decodeDocuments(m.Data)
		if err != nil {
			return nil, fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		objs = append(objs, docs...)
	}
	set := 0
	for _, u := range objs {
		if u.GetKind() != "Deployment" || u.GetName() != ControllerName {
			continue
		}
		containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if err != nil {
			return nil, fmt.Errorf("deploy: Deployment %s: %w", ControllerName, err)
		}
		for _, c := range containers {
			if c, ok := c.(map[string]any); ok && c["name"] == ControllerName {
				c["image"] = image
				set++
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			return nil, fmt.Errorf("deploy: Deployment %s: %w", ControllerName, err)
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("deploy: found %d containers %s in a Deployment %s, want 1", set, ControllerName, ControllerName)
	}
	return objs, nil
}

// decodeDocuments parses a multi-document YAML file, skipping empty documents.
func decodeDocuments(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		out = append(out, u)
	}
}
