package viz

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
)

// TopOptions are the options of `mesh viz top`.
type TopOptions struct {
	queryFlags
	Interval time.Duration
	Count    int

	api *apiFlags
	now func() time.Time
	cmdutil.IOStreams
}

func newCmdTop(f *apiFlags, streams cmdutil.IOStreams) *cobra.Command {
	o := &TopOptions{api: f, IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "top [KIND] [-n NAMESPACE]",
		Short: "A live view of workloads and edges, refreshed every --interval",
		Long: `top shows what stat and edges show, together, and asks again every --interval until
interrupted (Ctrl-C) or --count views were shown. On a terminal each view replaces the
last; otherwise views follow one another. With -o json each view is one JSON object on
one line (the overview: workloads, edges, links and clusters), for a program to follow.`,
		Example: `  mesh --context west viz top -n meshfed-demo
  mesh viz top -A --interval 5s
  mesh viz top -n meshfed-demo -o json --count 3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			if o.Interval < time.Second {
				return fmt.Errorf("--interval %s: use 1s or more", o.Interval)
			}
			if o.Count < 0 {
				return fmt.Errorf("--count %d: use 0 (until interrupted) or more", o.Count)
			}
			return o.Run(cmd.Context())
		},
	}
	o.queryFlags.add(cmd)
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "how often to refresh")
	cmd.Flags().IntVar(&o.Count, "count", 0, "stop after this many views; 0 runs until interrupted")
	return cmd
}

// Run shows views until ctx ends or Count were shown. A view the API fails to give is
// reported in its place; top goes on.
func (o *TopOptions) Run(ctx context.Context) error {
	api, err := o.api.api()
	if err != nil {
		return err
	}
	clear := false
	if f, ok := o.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) && o.Output == outputTable {
		clear = true
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		if err := o.view(ctx, api, clear); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if o.Count == 1 {
				return err
			}
			fmt.Fprintf(o.ErrOut, "%s: %v\n", o.now().Format(time.TimeOnly), err)
		}
		if o.Count > 0 && n >= o.Count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (o *TopOptions) view(ctx context.Context, api API, clear bool) error {
	var ov vizapi.Overview
	if err := getJSON(ctx, api, "/api/v1/overview", o.values(), &ov); err != nil {
		return err
	}
	f := vizapi.Filter{Cluster: o.Cluster, Namespace: o.Namespace, Kind: o.kind}
	ws := ov.Workloads[:0:0]
	for _, w := range ov.Workloads {
		if f.Match(w.Workload) {
			ws = append(ws, w)
		}
	}
	es := ov.Edges[:0:0]
	for _, e := range ov.Edges {
		if f.Match(e.Src) || f.Match(e.Dst) {
			es = append(es, e)
		}
	}
	ov.Workloads, ov.Edges = ws, es
	if o.Output == outputJSON {
		b, err := json.Marshal(ov)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", b)
		return err
	}
	if clear {
		fmt.Fprint(o.Out, "\033[H\033[2J")
	}
	fmt.Fprintf(o.Out, "%s  %s, last %s (every %s; Ctrl-C to stop)\n\n", o.now().Format(time.TimeOnly), o.where(), ov.Window, o.Interval)
	warnClusters(o.Out, ov.Clusters)
	if err := printStats(o.Out, ws); err != nil {
		return err
	}
	fmt.Fprintln(o.Out)
	if err := printEdges(o.Out, es); err != nil {
		return err
	}
	for _, l := range ov.Links {
		alive := "unknown"
		if l.GatewayAlive != nil {
			alive = map[bool]string{true: "alive", false: "DOWN"}[*l.GatewayAlive]
		}
		fmt.Fprintf(o.Out, "\nlink %s -> %s: gateway %s, remote %s, tunnels %.1f/s at %s", l.Cluster, l.Remote, alive, orDash(l.RemoteState), l.GatewayDialsPerSec, percent(l.GatewayDialSuccess))
	}
	if len(ov.Links) > 0 {
		fmt.Fprintln(o.Out)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
