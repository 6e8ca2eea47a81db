package meshcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/check"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/cmd/demo"
	injectcmd "github.com/meshfed/meshfed/pkg/cmd/inject"
	"github.com/meshfed/meshfed/pkg/cmd/install"
	"github.com/meshfed/meshfed/pkg/cmd/multicluster"
	trustcmd "github.com/meshfed/meshfed/pkg/cmd/trust"
	vizcmd "github.com/meshfed/meshfed/pkg/cmd/viz"
)

// Run runs mesh with args and the given streams; it prints its own errors on errOut.
func Run(args []string, in io.Reader, out, errOut io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := NewCommand(cmdutil.IOStreams{In: in, Out: out, ErrOut: errOut})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(errOut, "ERROR:", err)
	}
	return err
}

// NewCommand returns the root command, reaching clusters as its flags say.
func NewCommand(streams cmdutil.IOStreams) *cobra.Command {
	flags := &cmdutil.ConfigFlags{}
	cmd := newRoot(streams)
	flags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(install.NewCmdInstall(streams))
	cmd.AddCommand(install.NewCmdUninstall(streams))
	cmd.AddCommand(check.NewCmdCheck(flags, streams))
	cmd.AddCommand(demo.NewCmdDemo(streams))
	cmd.AddCommand(injectcmd.NewCmdInject(flags, streams))
	cmd.AddCommand(multicluster.NewCmdMulticluster(flags, streams))
	cmd.AddCommand(trustcmd.NewCmdTrust(flags, streams))
	cmd.AddCommand(vizcmd.NewCmdViz(flags, streams))
	return cmd
}

func newRoot(streams cmdutil.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mesh",
		Short: "meshfed: a service mesh for federated Kubernetes clusters",
		Long: `mesh installs and operates meshfed. Its commands read clusters as kubectl does
(--kubeconfig, --context) and print YAML for kubectl apply -f -: they never change a
cluster themselves.`,
		Example: `  # Join west and east: install in both, then let west mirror what east exports
  mesh multicluster install --cluster-name west | kubectl --context west apply -f -
  mesh multicluster install --cluster-name east --allow-clusters west | kubectl --context east apply -f -
  mesh --context east multicluster link --cluster-name east | kubectl --context west apply -f -
  mesh --context west multicluster check`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	return cmd
}
