package viz

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
)

// EdgesOptions are the options of `mesh viz edges`.
type EdgesOptions struct {
	queryFlags
	api *apiFlags
	cmdutil.IOStreams
}

func newCmdEdges(f *apiFlags, streams cmdutil.IOStreams) *cobra.Command {
	o := &EdgesOptions{api: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "edges [KIND] [-n NAMESPACE]",
		Short: "Golden metrics per edge: who calls whom, across clusters too",
		Long: `edges prints one line per pair of workloads that talk, for every edge with an end in the
namespace, as the caller's proxies saw it over the last --window (outbound): what the
caller got, the gateway hop included when the call crossed to another cluster.

DST names the workload called; "@east" after it means the call went through east's
east-west gateway to a workload of east (the caller asked for its mirror, such as
voting-east). A destination the mesh does not know by workload is named by the Service
asked for (service/NAME). Columns as in mesh viz stat.`,
		Example: `  mesh --context west viz edges deploy -n meshfed-demo
  mesh viz edges -A -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.queryFlags.add(cmd)
	return cmd
}

// Run prints the edges.
func (o *EdgesOptions) Run(ctx context.Context) error {
	api, err := o.api.api()
	if err != nil {
		return err
	}
	var ans vizapi.EdgesAnswer
	if err := getJSON(ctx, api, "/api/v1/edges", o.values(), &ans); err != nil {
		return err
	}
	if o.Output == outputJSON {
		return printJSON(o.Out, ans)
	}
	warnClusters(o.ErrOut, ans.Clusters)
	if len(ans.Edges) == 0 {
		fmt.Fprintf(o.ErrOut, "No edges found in %s over the last %s.\n", o.where(), ans.Window)
		return nil
	}
	return printEdges(o.Out, ans.Edges)
}
