package multicluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// Check is one thing `mesh multicluster check` verifies.
type Check struct {
	// Description says what holds when the check passes.
	Description string
	// Hint says how to fix a failure.
	Hint string
	// Fatal skips the checks after this one in its category when it fails: they need what
	// it checks.
	Fatal bool
	// Run tries it: nil when it holds, else an error saying what is wrong.
	Run func(ctx context.Context) error
}

// Category is the checks about one thing: this cluster, or one Link.
type Category struct {
	Name   string
	Checks []Check
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Description string `json:"description"`
	// Result is "success" or "error".
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// CategoryResult holds the outcomes of one category's checks that ran.
type CategoryResult struct {
	Name   string        `json:"name"`
	Checks []CheckResult `json:"checks"`
}

// CheckReport is what `check -o json` prints.
type CheckReport struct {
	Success    bool             `json:"success"`
	Categories []CategoryResult `json:"categories"`
}

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
	factory    cmdutil.Factory
	cmdutil.IOStreams
}

func newCmdCheck(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	o := &CheckOptions{factory: f, IOStreams: streams, retryEvery: time.Second}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the multicluster components and every Link of a cluster",
		Long: `check verifies, one line each, with a hint on every failure:

  - the Link CRD is installed and the link controller is available;
  - this cluster's remote reader has its token, so that others can link to it;
  - for every Link in mesh-multicluster: its credentials Secret exists and parses, the
    remote cluster answers with those credentials, the credentials are read-only there
    (asked of the remote's authorizer, not assumed), every Service the remote exports and
    the Link selects has its mirror here, and no mirror here lacks its export there.

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
	r := &checkRunner{deadline: time.Now().Add(o.Wait), retryEvery: o.retryEvery}
	if o.Output == outputTable {
		r.out = o.Out
	}
	var links []mcv1alpha1.Link
	cluster := localCategory(local, &links)
	if r.run(ctx, cluster) && len(links) == 0 && r.out != nil {
		fmt.Fprintf(r.out, "\nNo Links in %s: this cluster mirrors no other. 'mesh multicluster link --help' shows how to link one.\n", Namespace)
	}
	for i := range links {
		r.run(ctx, linkCategory(&links[i], local, o.factory))
	}

	report := r.report()
	if o.Output == outputJSON {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "%s\n", b)
	}
	total, failed := r.counts()
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, total)
	}
	if r.out != nil {
		fmt.Fprintf(r.out, "\n✓ all %d checks passed\n", total)
	}
	return nil
}

// checkRunner runs categories of checks in order, printing each outcome as it comes when out
// is set, and keeps them for the report.
type checkRunner struct {
	deadline   time.Time
	retryEvery time.Duration
	out        io.Writer

	results []CategoryResult
}

// run runs the checks of c until the first failed fatal one, and says whether none failed
// fatally.
func (r *checkRunner) run(ctx context.Context, c Category) bool {
	res := CategoryResult{Name: c.Name, Checks: []CheckResult{}}
	if r.out != nil {
		if len(r.results) > 0 {
			fmt.Fprintln(r.out)
		}
		fmt.Fprintf(r.out, "%s\n%s\n", c.Name, dashes(c.Name))
	}
	ok := true
	for _, ch := range c.Checks {
		err := r.try(ctx, ch)
		cr := CheckResult{Description: ch.Description, Result: "success"}
		if err != nil {
			cr.Result, cr.Error, cr.Hint = "error", err.Error(), ch.Hint
		}
		res.Checks = append(res.Checks, cr)
		r.print(cr)
		if err != nil && ch.Fatal {
			ok = false
			break
		}
	}
	r.results = append(r.results, res)
	return ok
}

// try runs a check, again every retryEvery while it fails, until the deadline.
func (r *checkRunner) try(ctx context.Context, ch Check) error {
	for {
		err := ch.Run(ctx)
		if err == nil || !time.Now().Add(r.retryEvery).Before(r.deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(r.retryEvery):
		}
	}
}

func (r *checkRunner) print(cr CheckResult) {
	if r.out == nil {
		return
	}
	if cr.Result == "success" {
		fmt.Fprintf(r.out, "✓ %s\n", cr.Description)
		return
	}
	fmt.Fprintf(r.out, "× %s\n    %s\n", cr.Description, cr.Error)
	if cr.Hint != "" {
		fmt.Fprintf(r.out, "    hint: %s\n", cr.Hint)
	}
}

func (r *checkRunner) counts() (total, failed int) {
	for _, c := range r.results {
		for _, ch := range c.Checks {
			total++
			if ch.Result != "success" {
				failed++
			}
		}
	}
	return total, failed
}

func (r *checkRunner) report() CheckReport {
	_, failed := r.counts()
	return CheckReport{Success: failed == 0, Categories: r.results}
}

func dashes(s string) string { return strings.Repeat("-", utf8.RuneCountInString(s)) }

// onceOK returns f, its first success remembered. A failure is not: the next call tries
// again, so a check retried with --wait sees what was fixed meanwhile.
func onceOK[T any](f func(context.Context) (T, error)) func(context.Context) (T, error) {
	var (
		mu   sync.Mutex
		done bool
		v    T
	)
	return func(ctx context.Context) (T, error) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return v, nil
		}
		got, err := f(ctx)
		if err != nil {
			return got, err
		}
		v, done = got, true
		return v, nil
	}
}
