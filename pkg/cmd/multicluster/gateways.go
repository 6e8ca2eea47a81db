package multicluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// GatewaysOptions are the options of `mesh multicluster gateways`.
type GatewaysOptions struct {
	Output string

	now     func() time.Time
	factory cmdutil.Factory
	cmdutil.IOStreams
}

func newCmdGateways(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	o := &GatewaysOptions{factory: f, IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "gateways",
		Short: "Show, for each linked cluster, whether its gateway is alive and what is mirrored through it",
		Long: `gateways runs against the cluster that mirrors others (say west) and prints one line per
Link: the linked cluster, whether its east-west gateway is alive as the link controller
last saw it (the Link's GatewayAlive condition, from its probe), since when, the gateway's
address, and how many of that cluster's Services are mirrored here.

ALIVE is "unknown" when the Link has no probe (linked with --gateway-probe=false) or the
link controller has not yet reported. It reads the Links only; it probes nothing itself, as
this machine may not reach the gateways the cluster reaches.`,
		Example: `  mesh --context west multicluster gateways
  mesh --context west multicluster gateways -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Output != outputTable && o.Output != outputJSON {
				return fmt.Errorf("--output %q: use table or json", o.Output)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", outputTable, "output format: table or json")
	return cmd
}

// GatewayStatus is one linked cluster's gateway, as `gateways -o json` prints it.
type GatewayStatus struct {
	Cluster string `json:"cluster"`
	// Alive is "true", "false" or "unknown".
	Alive            string    `json:"alive"`
	Since            time.Time `json:"since,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	Message          string    `json:"message,omitempty"`
	Gateway          string    `json:"gateway"`
	MirroredServices int32     `json:"mirroredServices"`
}

// Run reads the Links and prints their gateways.
func (o *GatewaysOptions) Run(ctx context.Context) error {
	c, err := cmdutil.LocalClients(o.factory)
	if err != nil {
		return err
	}
	links, err := listLinks(ctx, c)
	if err != nil {
		return err
	}
	statuses := make([]GatewayStatus, 0, len(links))
	for i := range links {
		statuses = append(statuses, gatewayStatus(&links[i]))
	}
	if o.Output == outputJSON {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(statuses)
	}
	if len(statuses) == 0 {
		fmt.Fprintf(o.Out, "No Links in %s: link a cluster with 'mesh multicluster link'.\n", Namespace)
		return nil
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tALIVE\tSINCE\tGATEWAY\tMIRRORED")
	for _, s := range statuses {
		since := "-"
		if !s.Since.IsZero() {
			since = duration.HumanDuration(o.now().Sub(s.Since))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", s.Cluster, s.Alive, since, s.Gateway, s.MirroredServices)
	}
	return w.Flush()
}

func gatewayStatus(l *mcv1alpha1.Link) GatewayStatus {
	port := l.Spec.GatewayPort
	if port == 0 {
		port = mcv1alpha1.DefaultGatewayPort
	}
	var addrs []string
	for _, a := range l.Spec.GatewayAddresses {
		addrs = append(addrs, net.JoinHostPort(a, strconv.Itoa(int(port))))
	}
	s := GatewayStatus{Cluster: l.Spec.TargetClusterName, Alive: "unknown", Gateway: strings.Join(addrs, ","), MirroredServices: l.Status.MirroredServices}
	if s.Gateway == "" {
		s.Gateway = "-"
	}
	if c := meta.FindStatusCondition(l.Status.Conditions, mcv1alpha1.LinkGatewayAlive); c != nil {
		s.Alive = strings.ToLower(string(c.Status))
		s.Since, s.Reason, s.Message = c.LastTransitionTime.Time, c.Reason, c.Message
	}
	return s
}
