package multicluster

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/healthcheck"
)

// The checks and their results are package healthcheck's.
type (
	Check          = healthcheck.Check
	Category       = healthcheck.Category
	CheckResult    = healthcheck.CheckResult
	CategoryResult = healthcheck.CategoryResult
	CheckReport    = healthcheck.Report
)

// Output formats of check.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// CheckOptions are the options of `mesh multicluster check`.
type CheckOptions struct {
	Output string
	Wait   time.Duration

	retryEvery time.Duration
	// dialGateway opens the connections to the remote gateways: a net.Dialer but in tests.
	dialGateway dialFunc
	factory     cmdutil.Factory
	cmdutil.IOStreams
}

func newCmdCheck(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	o := &CheckOptions{factory: f, IOStreams: streams, retryEvery: time.Second, dialGateway: (&net.Dialer{}).DialContext}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the multicluster components and every Link of a cluster",
		Long: `check verifies, one line each, with a hint on every failure:

  - the Link CRD is installed and the link controller is available;
  - this cluster's remote reader has its token, so that others can link to it;
  - for every Link in mesh-multicluster: its credentials Secret exists and parses, the
    remote cluster answers with those credentials, the credentials are read-only there
    (asked of the remote's authorizer, not assumed), every Service the remote exports and
    the Link selects has its mirror here, and no mirror here lacks its export there;
  - for every Link that names its gateway's identity: each gateway address answers, from
    where mesh runs, over TLS 1.3 with that identity, chained to this cluster's anchors (the
    clusters share one).

It exits non-zero when a check fails. With --wait it tries failing checks again until they
pass or the time is up.`,
		Example: `  # Check west, which mirrors east
  mesh --context west multicluster check

  # As JSON, for scripts
  mesh --context west multicluster check -o json

  # Wait up to a minute for a fresh install to come up
  mesh --context west multicluster check --wait 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", outputTable, "output format: table or json")
	cmd.Flags().DurationVar(&o.Wait, "wait", 0, "retry failing checks until they pass or this much time has passed, such as 1m")
	return cmd
}

// Validate checks the flags.
func (o *CheckOptions) Validate() error {
	if o.Output != outputTable && o.Output != outputJSON {
		return fmt.Errorf("--output %q is not a format of check: use table or json", o.Output)
	}
	if o.Wait < 0 {
		return fmt.Errorf("--wait %s is negative: give how long to retry, such as 1m, or 0 not to", o.Wait)
	}
	return nil
}

// Run runs the checks of this cluster, then those of each Link, and prints their outcomes.
func (o *CheckOptions) Run(ctx context.Context) error {
	local, err := cmdutil.LocalClients(o.factory)
	if err != nil {
		return err
	}
	r := &healthcheck.Runner{Deadline: time.Now().Add(o.Wait), RetryEvery: o.retryEvery}
	if o.Output == outputTable {
		r.Out = o.Out
	}
	var links []mcv1alpha1.Link
	cluster := localCategory(local, &links)
	if r.Run(ctx, cluster) && len(links) == 0 && r.Out != nil {
		fmt.Fprintf(r.Out, "\nNo Links in %s: this cluster mirrors no other. 'mesh multicluster link --help' shows how to link one.\n", Namespace)
	}
	for i := range links {
		r.Run(ctx, linkCategory(&links[i], local, o.factory, o.dialGateway))
	}

	return r.Finish(o.Out, o.Output == outputJSON)
}
