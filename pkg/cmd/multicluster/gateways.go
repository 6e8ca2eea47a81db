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
last saw it (the Link's GatewayAlive condition, from gossip or its probe), since when, the
round trip from this cluster's gateway to it, the gateway's address, and how many of that
cluster's Services are mirrored here.

ALIVE is "unknown" when the Link has no probe (linked with --gateway-probe=false) or the
link controller has not yet reported. LATENCY is the last gossip probe's round trip, as
this cluster's gateway reports it (GET /members on its admin Service, through the
apiserver's service proxy); "-" when gossip has none, or the gateway cannot be asked. It
probes nothing itself, as this machine may not reach the gateways the cluster reaches.`,
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
	// RTT is the last gossip probe's round trip from this cluster's gateway; zero when
	// unknown.
	RTT time.Duration `json:"rttNanoseconds,omitempty"`
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
	// Latency is a nicety: without it (no gossip, or no right to proxy to the Service) the
	// rest still stands.
	rtts, err := gossipRTTs(ctx, c)
	if err != nil {
		fmt.Fprintf(o.ErrOut, "No latencies: %v\n", err)
	}
	statuses := make([]GatewayStatus, 0, len(links))
	for i := range links {
		s := gatewayStatus(&links[i])
		s.RTT = rtts[s.Cluster]
		statuses = append(statuses, s)
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
	fmt.Fprintln(w, "CLUSTER\tALIVE\tSINCE\tLATENCY\tGATEWAY\tMIRRORED")
	for _, s := range statuses {
		since, latency := "-", "-"
		if !s.Since.IsZero() {
			since = duration.HumanDuration(o.now().Sub(s.Since))
		}
		if s.RTT > 0 {
			latency = s.RTT.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\n", s.Cluster, s.Alive, since, latency, s.Gateway, s.MirroredServices)
	}
	return w.Flush()
}

// gossipMember is one member of the local gateway's GET /members (cmd/gateway).
type gossipMember struct {
	Cluster string        `json:"cluster"`
	State   string        `json:"state"`
	RTT     time.Duration `json:"rttNanoseconds"`
}

// gossipRTTs asks the local gateway, through the apiserver, for the gossip pool and returns
// per cluster the shortest round trip to a gateway of it that is alive.
func gossipRTTs(ctx context.Context, c *cmdutil.Clients) (map[string]time.Duration, error) {
	raw, err := c.Kube.CoreV1().Services(Namespace).ProxyGet("http", GatewayAdminServiceName, GatewayAdminPortName, "/members", nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the gateway's Service %s/%s for /members: %w", Namespace, GatewayAdminServiceName, err)
	}
	var members []gossipMember
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("the gateway's /members: %w", err)
	}
	rtts := map[string]time.Duration{}
	for _, m := range members {
		if m.State != "alive" || m.RTT <= 0 {
			continue
		}
		if cur, ok := rtts[m.Cluster]; !ok || m.RTT < cur {
			rtts[m.Cluster] = m.RTT
		}
	}
	return rtts, nil
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
