package multicluster

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// InstallOptions are the options of `mesh multicluster install`.
type InstallOptions struct {
	Images cmdutil.ImageFlags

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
	o.Images.AddFlags(cmd.Flags(), "the link controller's image")
	return cmd
}

// Complete makes the image from the flags.
func (o *InstallOptions) Complete() error {
	o.image = o.Images.Image("link")
	return nil
}

// Validate checks the flags.
func (o *InstallOptions) Validate() error {
	return o.Images.Validate("link")
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
	for _, m := range append(deploy.MulticlusterCRDs(), deploy.Multicluster()...) {
		docs, err := cmdutil.DecodeDocuments(m.Data)
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
