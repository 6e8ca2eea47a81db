package viz

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
)

const (
	outputTable = "table"
	outputJSON  = "json"
)

// queryFlags select what stat, edges and top show.
type queryFlags struct {
	Namespace     string
	AllNamespaces bool
	Cluster       string
	Window        time.Duration
	Output        string

	kind string // set by complete, from the argument
}

func (q *queryFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&q.Namespace, "namespace", "n", "default", "the namespace of the workloads")
	fl.BoolVarP(&q.AllNamespaces, "all-namespaces", "A", false, "workloads of every namespace")
	fl.StringVar(&q.Cluster, "cluster", "", "only this cluster's workloads (default: every cluster the viz API reads)")
	fl.DurationVar(&q.Window, "window", vizapi.DefaultWindow, "the time the rates and latencies are taken over, ending now")
	fl.StringVarP(&q.Output, "output", "o", outputTable, "output format: table or json")
}

// complete reads the optional KIND argument and checks the flags.
func (q *queryFlags) complete(args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("one workload kind at most, got %q: such as mesh viz stat deploy -n NS", args)
	}
	if len(args) == 1 {
		k, err := vizapi.NormalizeKind(args[0])
		if err != nil {
			return err
		}
		q.kind = k
	}
	if q.Output != outputTable && q.Output != outputJSON {
		return fmt.Errorf("--output %q: use table or json", q.Output)
	}
	if q.Window < vizapi.MinWindow || q.Window > vizapi.MaxWindow {
		return fmt.Errorf("--window %s: use %s to %s (a rate needs two scrapes or more)", q.Window, vizapi.MinWindow, vizapi.MaxWindow)
	}
	if q.AllNamespaces {
		q.Namespace = ""
	}
	return nil
}

func (q *queryFlags) values() url.Values {
	v := url.Values{"window": {model.Duration(q.Window).String()}}
	for k, val := range map[string]string{"namespace": q.Namespace, "cluster": q.Cluster, "kind": q.kind} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// StatOptions are the options of `mesh viz stat`.
type StatOptions struct {
	queryFlags
	api *apiFlags
	cmdutil.IOStreams
}

func newCmdStat(f *apiFlags, streams cmdutil.IOStreams) *cobra.Command {
	o := &StatOptions{api: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "stat [KIND] [-n NAMESPACE]",
		Short: "Golden metrics per workload: success rate, requests per second, latency, mTLS share",
		Long: `stat prints, for each workload of the namespace in every cluster of the federation, what
it served over the last --window, as its own proxies counted it (inbound):

  SUCCESS   the share of requests answered with a status below 500
  RPS       requests per second
  P50 P95 P99  latency to the end of the response, in milliseconds
  TLS       the share of requests that came over mTLS

KIND narrows to one kind of workload: deploy (deployment), sts (statefulset), ds
(daemonset), job, or all (the default). A workload that only calls others (a load
generator) has no line of its own numbers: see mesh viz edges. "-" means no request in
the window.

The numbers come from each cluster's Prometheus through the viz API (mesh viz install).`,
		Example: `  mesh --context west viz stat deploy -n meshfed-demo
  mesh viz stat -A --window 5m -o json
  mesh viz stat deploy -n shop --cluster east`,
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

// Run prints the stats.
func (o *StatOptions) Run(ctx context.Context) error {
	api, err := o.api.api()
	if err != nil {
		return err
	}
	var ans vizapi.StatAnswer
	if err := getJSON(ctx, api, "/api/v1/stat", o.values(), &ans); err != nil {
		return err
	}
	if o.Output == outputJSON {
		return printJSON(o.Out, ans)
	}
	warnClusters(o.ErrOut, ans.Clusters)
	if len(ans.Workloads) == 0 {
		fmt.Fprintf(o.ErrOut, "No traffic found in %s over the last %s.\n", o.where(), ans.Window)
		return nil
	}
	return printStats(o.Out, ans.Workloads)
}

func (q *queryFlags) where() string {
	where := "namespace " + q.Namespace
	if q.Namespace == "" {
		where = "any namespace"
	}
	if q.Cluster != "" {
		where += " of cluster " + q.Cluster
	}
	return where
}

func printStats(out io.Writer, ws []vizapi.WorkloadStat) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tNAMESPACE\tNAME\tSUCCESS\tRPS\tP50\tP95\tP99\tTLS")
	for _, s := range ws {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Cluster, s.Namespace, s.Name, percent(s.SuccessRate), rps(s.RPS, s.SuccessRate),
			ms(s.P50), ms(s.P95), ms(s.P99), percent(s.TLSShare))
	}
	return w.Flush()
}

func printEdges(out io.Writer, es []vizapi.Edge) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tNAMESPACE\tSRC\tDST\tSUCCESS\tRPS\tP50\tP95\tP99\tTLS")
	for _, e := range es {
		dst := e.Dst.Name
		switch {
		case e.Gateway != "":
			dst += "@" + e.Gateway
		case e.Dst.Namespace != e.Src.Namespace:
			dst = e.Dst.Namespace + "/" + dst
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Src.Cluster, e.Src.Namespace, e.Src.Name, dst, percent(e.SuccessRate), rps(e.RPS, e.SuccessRate),
			ms(e.P50), ms(e.P95), ms(e.P99), percent(e.TLSShare))
	}
	return w.Flush()
}

// warnClusters says which clusters did not answer: their numbers are missing, not zero.
func warnClusters(w io.Writer, cs []vizapi.ClusterStatus) {
	for _, c := range cs {
		if c.Error != "" {
			fmt.Fprintf(w, "Warning: cluster %s is missing: %s\n", c.Name, c.Error)
		}
	}
}

func percent(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *p*100)
}

func rps(v float64, sr *float64) string {
	if sr == nil && v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func ms(p *float64) string {
	switch {
	case p == nil:
		return "-"
	case *p < 10:
		return fmt.Sprintf("%.1fms", *p)
	}
	return fmt.Sprintf("%.0fms", *p)
}

func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
