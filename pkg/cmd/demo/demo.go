package demo

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/meshfed/deploy"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// NewCmdDemo returns `mesh demo` and its commands.
func NewCmdDemo(streams cmdutil.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The demo app: a web front end and two gRPC back ends to see the mesh work",
		Args:  cmdutil.UnknownCommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdInstall(streams))
	return cmd
}

// InstallOptions are the options of `mesh demo install`.
type InstallOptions struct {
	// VotingIn names the cluster whose voting service web calls, through its mirror
	// voting-<cluster>; voting then runs there, not here.
	VotingIn string
	// VotingOnly prints voting alone, exported to the clusters linked to this one.
	VotingOnly bool
	Images     cmdutil.ImageFlags
	cmdutil.IOStreams
}

// demoNamespace is where the demo runs.
const demoNamespace = "meshfed-demo"

func newCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &InstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Print the demo app, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, the demo app in the namespace meshfed-demo:

  - web: an HTTP front end (Service web, port 80) that lists emoji and counts votes;
  - emoji and voting (2 replicas): its gRPC back ends;
  - vote-bot: votes through web ten times a second.

Each has its own ServiceAccount, so the mesh gives each its own identity. The app is not
injected: inject it as you would your own.

Across two linked clusters, voting runs in one (--voting-only prints it, exported) and the
rest in the other (--voting-in names the first): web then calls voting through its mirror
voting-<cluster>, mTLS from web's proxy to voting's through the other cluster's gateway.`,
		Example: `  mesh demo install | kubectl apply -f -
  kubectl -n meshfed-demo get deploy -o yaml | mesh inject - | kubectl apply -f -
  mesh check --proxy -n meshfed-demo

  # web in west, voting in east (west links to east)
  mesh demo install --voting-only | kubectl --context east apply -f -
  mesh demo install --voting-in east | kubectl --context west apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.VotingIn, "voting-in", "", "the linked cluster voting runs in: web calls its mirror voting-<cluster>, and voting is not printed")
	cmd.Flags().BoolVar(&o.VotingOnly, "voting-only", false, "print voting alone, exported (mirror.meshfed.io/exported=true) to the clusters linked to this one")
	o.Images.AddFlags(cmd.Flags(), "the demo's image")
	return cmd
}

// Validate checks the flags.
func (o *InstallOptions) Validate() error {
	if o.VotingIn != "" && o.VotingOnly {
		return errors.New("--voting-in and --voting-only split the demo between two clusters: give --voting-only in the cluster voting runs in, --voting-in in the other")
	}
	if o.VotingIn != "" {
		if errs := validation.IsDNS1123Label(o.VotingIn); len(errs) > 0 {
			return fmt.Errorf("--voting-in %q is not a cluster name (%s): give the name the Link knows it by, such as east", o.VotingIn, errs[0])
		}
	}
	return o.Images.Validate("demo")
}

// keep tells whether the split asked for prints u, and adjusts what it prints.
func (o *InstallOptions) keep(u *unstructured.Unstructured) (bool, error) {
	name, kind := u.GetName(), u.GetKind()
	switch {
	case o.VotingOnly:
		if kind == "Namespace" {
			return true, nil
		}
		if name != "voting" {
			return false, nil
		}
		if kind == "Service" {
			labels := u.GetLabels()
			labels[mcv1alpha1.LabelExported] = mcv1alpha1.ExportedGateway
			u.SetLabels(labels)
		}
		return true, nil
	case o.VotingIn != "":
		if name == "voting" && kind != "ServiceAccount" {
			return false, nil
		}
		if kind == "Deployment" && name == "web" {
			return true, o.callVotingIn(u)
		}
	}
	return true, nil
}

// callVotingIn points web at voting's mirror.
func (o *InstallOptions) callVotingIn(web *unstructured.Unstructured) error {
	containers, _, err := unstructured.NestedSlice(web.Object, "spec", "template", "spec", "containers")
	if err != nil || len(containers) != 1 {
		return fmt.Errorf("deploy/demo: Deployment web: want one container (%v)", err)
	}
	c := containers[0].(map[string]any)
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	i := slices.Index(args, "--voting-addr")
	if i < 0 || i+1 >= len(args) {
		return errors.New("deploy/demo: Deployment web has no --voting-addr to point at the mirror")
	}
	args[i+1] = fmt.Sprintf("voting-%s.%s.svc.cluster.local:8080", o.VotingIn, demoNamespace)
	if err := unstructured.SetNestedStringSlice(c, args, "args"); err != nil {
		return err
	}
	return unstructured.SetNestedSlice(web.Object, containers, "spec", "template", "spec", "containers")
}

// Run prints the manifests.
func (o *InstallOptions) Run() error {
	manifests, err := deploy.Demo(deploy.ControlPlaneValues{Registry: o.Images.Registry, Version: o.Images.Version})
	if err != nil {
		return err
	}
	n := 0
	for _, m := range manifests {
		docs, err := cmdutil.DecodeDocuments(m.Data)
		if err != nil {
			return fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		for _, u := range docs {
			keep, err := o.keep(u)
			if err != nil {
				return err
			}
			if !keep {
				continue
			}
			if err := cmdutil.PrintYAMLMap(o.Out, u.Object, n > 0); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}
