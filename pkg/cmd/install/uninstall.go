package install

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// NewCmdUninstall returns `mesh uninstall`.
func NewCmdUninstall(streams cmdutil.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Print what mesh install made, for kubectl delete",
		Long: `uninstall prints, for kubectl delete -f -, every object 'mesh install' makes (the
control plane, then the CRDs, with the policies they hold), newest first. Proxies already
injected run on until their pods are recreated: first remove the meshfed.io/inject
annotation from the workloads (or namespaces) and restart them.

The namespace mesh-system goes too, and with it the issuer and the trust bundle that
'mesh trust cluster' (or 'mesh install --anchor') put there. What that command put elsewhere (with --cert-manager, the
anchor Secret in cert-manager's namespace and the ClusterIssuer) stays: delete it by piping
the same command to kubectl delete.`,
		Example: `  mesh uninstall | kubectl delete --ignore-not-found -f -
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager | kubectl delete --ignore-not-found -f -`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			// Any trust domain and images: only names, kinds and namespaces are printed.
			cp, err := deploy.ControlPlane(deploy.ControlPlaneValues{Registry: cmdutil.DefaultRegistry, Version: cmdutil.DefaultVersion, ClusterName: "uninstall", ClusterSet: "uninstall", HA: true})
			if err != nil {
				return fmt.Errorf("rendering the control plane: %w", err)
			}
			return printManifests(streams.Out, append(deploy.ControlPlaneCRDs(), cp...), true)
		},
	}
}
