package multicluster

import (
	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// NewCmdMulticluster returns `mesh multicluster` and its commands, reaching clusters through f.
func NewCmdMulticluster(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "multicluster",
		Aliases: []string{"mc"},
		Short:   "Join clusters so that each mirrors the services the others export",
		Long: `multicluster joins clusters into a federation. Every cluster runs the link controller
(install); linking west to east (link, run against east, applied to west) makes west mirror
every Service that east exports, as <name>-east in the same namespace. A Service is exported
with the label mirror.meshfed.io/exported=true (through east's gateway) or
=remote-discovery (straight to east's pods), or with a ServiceExport.`,
		Example: `  # Install in both clusters
  mesh multicluster install --cluster-name west | kubectl --context west apply -f -
  mesh multicluster install --cluster-name east --allow-clusters west | kubectl --context east apply -f -

  # Let west mirror what east exports
  mesh --context east multicluster link --cluster-name east | kubectl --context west apply -f -

  # See that it works
  mesh --context west multicluster check

  # Stop mirroring east in west
  mesh --context west multicluster unlink --cluster-name east | kubectl --context west delete --ignore-not-found -f -`,
		Args: cmdutil.UnknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCmdInstall(streams),
		newCmdAllow(streams),
		newCmdLink(f, streams),
		newCmdUnlink(f, streams),
		newCmdCheck(f, streams),
		newCmdGateways(f, streams),
	)
	return cmd
}
