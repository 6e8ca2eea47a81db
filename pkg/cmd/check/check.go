package check

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/healthcheck"
)

// Options are the options of `mesh check`.
type Options struct {
	Pre       bool
	Proxy     bool
	Namespace string
	Output    string
	Wait      time.Duration
	// Version is the proxies' expected image tag, as `mesh install --version` set it.
	Version string

	retryEvery time.Duration
	now        func() time.Time
	factory    cmdutil.Factory
	cmdutil.IOStreams
}

// NewCmdCheck returns `mesh check`.
func NewCmdCheck(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	return newCmdCheck(f, streams, time.Now)
}

// newCmdCheck is NewCmdCheck with a clock, so tests can check an issuer's expiry.
func newCmdCheck(f cmdutil.Factory, streams cmdutil.IOStreams, now func() time.Time) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams, retryEvery: time.Second, now: now}
	cmd := &cobra.Command{
		Use:   "check [--pre | --proxy -n NAMESPACE]",
		Short: "Check that the mesh is installed and well in a cluster",
		Long: `check runs, one line each with a hint on every failure:

  - the Kubernetes API: it answers, and is recent enough for native sidecars (1.29);
  - with --pre, before 'mesh install': you may create what install makes, and cert-manager
    is there;
  - the control plane: the policy CRDs, every Deployment 'mesh install' makes is
    available, the issuer is valid and chains to the trust bundle, the injector's webhook
    has endpoints to call;
  - with --proxy, the proxies of a namespace: every meshed pod's proxy is ready (so it
    holds a current certificate) and runs the version expected.

It exits non-zero when a check fails. --wait retries failing checks until it passes, as
right after an install.`,
		Example: `  # Before installing
  mesh check --pre

  # After 'mesh install', waiting up to two minutes for it to come up
  mesh check --wait 2m

  # The proxies in the namespace shop, as JSON
  mesh check --proxy -n shop -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.Pre, "pre", false, "check that the mesh can be installed, instead of that it is")
	cmd.Flags().BoolVar(&o.Proxy, "proxy", false, "check the proxies of --namespace too")
	cmd.Flags().StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of the proxies to check, with --proxy")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	cmd.Flags().DurationVar(&o.Wait, "wait", 0, "retry failing checks for this long, e.g. 2m")
	cmd.Flags().StringVar(&o.Version, "version", cmdutil.DefaultVersion, "the version the proxies must run, as given to 'mesh install --version'")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	switch {
	case o.Output != "table" && o.Output != "json":
		return fmt.Errorf("--output %q is not a format of check: use table or json", o.Output)
	case o.Wait < 0:
		return fmt.Errorf("--wait %s is negative: give how long to retry, such as 1m, or 0 not to", o.Wait)
	case o.Pre && o.Proxy:
		return fmt.Errorf("--pre and --proxy do not go together: --pre is for before the mesh is installed")
	case o.Proxy && o.Namespace == "":
		return fmt.Errorf("--namespace is empty: name the namespace whose proxies to check")
	}
	return nil
}

// Run runs the checks and prints their outcomes.
func (o *Options) Run(ctx context.Context) error {
	c, err := cmdutil.LocalClients(o.factory)
	if err != nil {
		return err
	}
	r := &healthcheck.Runner{Deadline: time.Now().Add(o.Wait), RetryEvery: o.retryEvery}
	if o.Output == "table" {
		r.Out = o.Out
	}
	ok := r.Run(ctx, apiCategory(c))
	if ok {
		switch {
		case o.Pre:
			r.Run(ctx, preCategory(c))
		default:
			cats, err := controlPlaneCategories(c, o.now)
			if err != nil {
				return err
			}
			for _, cat := range cats {
				r.Run(ctx, cat)
			}
			if o.Proxy {
				r.Run(ctx, proxyCategory(c, o.Namespace, o.Version))
			}
		}
	}
	return r.Finish(o.Out, o.Output == "json")
}
