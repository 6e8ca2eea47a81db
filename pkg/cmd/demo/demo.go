package demo

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/deploy"
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
	Images cmdutil.ImageFlags
	cmdutil.IOStreams
}

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
injected: inject it as you would your own.`,
		Example: `  mesh demo install | kubectl apply -f -
  kubectl -n meshfed-demo get deploy -o yaml | mesh inject - | kubectl apply -f -
  mesh check --proxy -n meshfed-demo`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Images.Validate("demo"); err != nil {
				return err
			}
			return o.Run()
		},
	}
	o.Images.AddFlags(cmd.Flags(), "the demo's image")
	return cmd
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
			if err := cmdutil.PrintYAMLMap(o.Out, u.Object, n > 0); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}
