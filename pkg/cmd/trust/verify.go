package trustcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// Output formats of verify.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// VerifyOptions are the options of `mesh trust verify`.
type VerifyOptions struct {
	Contexts            []string
	Output              string
	RequireAnchor       string
	RequireIssuerAnchor string

	env
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Description string `json:"description"`
	// Result is "success" or "error".
	Result string `json:"result"`
	// Detail says what was found, on success too: which anchors, which issuer.
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// CategoryResult holds the outcomes of the checks of one cluster.
type CategoryResult struct {
	Name   string        `json:"name"`
	Checks []CheckResult `json:"checks"`
}

// VerifyReport is what `verify -o json` prints.
type VerifyReport struct {
	Success    bool             `json:"success"`
	Categories []CategoryResult `json:"categories"`
}

func newCmdVerify(e env) *cobra.Command {
	o := &VerifyOptions{env: e}
	cmd := &cobra.Command{
		Use:   "verify --context CONTEXT --context CONTEXT...",
		Short: "Check that clusters trust each other's issuers",
		Long: `verify reads, in each cluster named by a kubeconfig context, the trust bundle (ConfigMap
mesh-system/meshfed-trust-bundle) and the issuer (Secret mesh-system/meshfed-identity-issuer,
its certificates only: the key is neither used nor printed), and checks, one line each,
with a hint on every failure:

  - each cluster's bundle parses, and its issuer is a CA valid for at least 24h more;
  - every cluster trusts every cluster's issuer, its own included: its bundle holds the
    anchor the issuer chains to. Workloads of two clusters authenticate each other only
    if both hold;
  - with --require-anchor, every bundle holds that anchor (a rotation's step 1 is done);
  - with --require-issuer-anchor, every issuer chains to that anchor (step 2 is done).

Here --context is verify's own flag, given once per cluster (given before 'trust', it
names one more cluster to check); --kubeconfig applies as everywhere. It exits non-zero
when a check fails.`,
		Example: `  # Check that west and east trust each other
  mesh trust verify --context west --context east

  # As JSON, for scripts
  mesh trust verify --context west --context east -o json

  # During a rotation, before step 2: does every bundle hold the new anchor?
  mesh trust verify --context west --context east --require-anchor ./anchor-2031/ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringArrayVar(&o.Contexts, "context", nil, "kubeconfig context of a cluster to check; give it once per cluster")
	cmd.Flags().StringVarP(&o.Output, "output", "o", outputTable, "output format: table or json")
	cmd.Flags().StringVar(&o.RequireAnchor, "require-anchor", "", "PEM file of an anchor every cluster's bundle must hold, such as a new anchor's ca.crt")
	cmd.Flags().StringVar(&o.RequireIssuerAnchor, "require-issuer-anchor", "", "PEM file of the anchor every cluster's issuer must chain to")
	return cmd
}

// Validate checks the flags.
func (o *VerifyOptions) Validate() error {
	if len(o.Contexts) == 0 {
		return errors.New("--context is required: name each cluster's kubeconfig context, such as --context west --context east ('kubectl config get-contexts' lists them)")
	}
	// A cluster named twice (before 'trust' and after it, say) is checked once.
	var once []string
	for _, c := range o.Contexts {
		if c == "" {
			return errors.New("--context is empty: give a kubeconfig context's name")
		}
		if !slices.Contains(once, c) {
			once = append(once, c)
		}
	}
	o.Contexts = once
	if o.Output != outputTable && o.Output != outputJSON {
		return fmt.Errorf("--output %q is not a format of verify: use table or json", o.Output)
	}
	return nil
}

// Run reads every cluster, runs the checks and prints their outcomes.
func (o *VerifyOptions) Run(ctx context.Context) error {
	var req requirements
	if o.RequireAnchor != "" {
		b, err := readBundleFile("--require-anchor", o.RequireAnchor)
		if err != nil {
			return err
		}
		req.anchor, req.anchorFile = b.Anchors()[0], o.RequireAnchor
	}
	if o.RequireIssuerAnchor != "" {
		b, err := readBundleFile("--require-issuer-anchor", o.RequireIssuerAnchor)
		if err != nil {
			return err
		}
		req.issuerAnchor, req.issuerAnchorFile = b.Anchors()[0], o.RequireIssuerAnchor
	}
	clusters := make([]*clusterState, len(o.Contexts))
	for i, name := range o.Contexts {
		clusters[i] = readCluster(ctx, o.factory, name)
	}
	report := VerifyReport{Success: true}
	total, failed := 0, 0
	for _, c := range clusterCategories(clusters, req, o.now()) {
		res := CategoryResult{Name: c.name, Checks: []CheckResult{}}
		for _, ch := range c.checks {
			r := CheckResult{Description: ch.description, Result: "success"}
			detail, err := ch.run()
			r.Detail = detail
			if err != nil {
				r.Result, r.Error, r.Hint = "error", err.Error(), ch.hint
				failed++
			}
			total++
			res.Checks = append(res.Checks, r)
		}
		report.Categories = append(report.Categories, res)
	}
	report.Success = failed == 0
	if o.Output == outputJSON {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // hints hold <placeholders> for people, not HTML
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		o.printTable(report, total)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, total)
	}
	return nil
}

func (o *VerifyOptions) printTable(report VerifyReport, total int) {
	w := o.streams.Out
	for i, c := range report.Categories {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n%s\n", c.Name, strings.Repeat("-", utf8.RuneCountInString(c.Name)))
		for _, r := range c.Checks {
			if r.Result == "success" {
				fmt.Fprintf(w, "✓ %s\n", r.Description)
				if r.Detail != "" {
					fmt.Fprintf(w, "    %s\n", r.Detail)
				}
				continue
			}
			fmt.Fprintf(w, "× %s\n    %s\n", r.Description, r.Error)
			if r.Hint != "" {
				fmt.Fprintf(w, "    hint: %s\n", r.Hint)
			}
		}
	}
	if report.Success {
		fmt.Fprintf(w, "\n✓ all %d checks passed\n", total)
	}
}
