package viz

import (
	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// NewCmdViz returns `mesh viz` and its commands.
func NewCmdViz(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	api := &apiFlags{factory: f}
	cmd := &cobra.Command{
		Use:   "viz",
		Short: "See the federation: golden metrics per workload and per edge, across clusters, and a dashboard",
		Long: `viz installs a metrics stack per cluster (Prometheus and the viz API) and reads it: success
rate, requests per second, latency and mTLS share per workload (stat) and per edge (edges,
across clusters too), live (top), and in a web page with the federation's graph and charts
(dashboard).

stat, edges, top and dashboard reach the viz API of the cluster --context names through
its API server's service proxy (they need get on services/proxy in mesh-viz), or the one
at --api-url.`,
		Example: `  mesh viz install --cluster-name east | kubectl --context east apply -f -
  mesh viz install --cluster-name west --remote-clusters east | kubectl --context west apply -f -
  mesh --context west viz stat deploy -n meshfed-demo
  mesh --context west viz edges -n meshfed-demo
  mesh --context west viz dashboard`,
		Args: cmdutil.UnknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&api.URL, "api-url", "", "the viz API's URL, such as http://127.0.0.1:8084 (default: the cluster's, through its API server)")
	cmd.AddCommand(newCmdInstall(streams))
	cmd.AddCommand(newCmdStat(api, streams))
	cmd.AddCommand(newCmdEdges(api, streams))
	cmd.AddCommand(newCmdTop(api, streams))
	cmd.AddCommand(newCmdDashboard(api, streams))
	return cmd
}
