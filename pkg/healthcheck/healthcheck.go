package healthcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Check is one thing a check command verifies.
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

// Category is the checks about one thing.
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

// Report is what `check -o json` prints.
type Report struct {
	Success    bool             `json:"success"`
	Categories []CategoryResult `json:"categories"`
}

// Runner runs categories of checks in order, printing each outcome as it comes when Out is
// set, and keeps them for the report.
type Runner struct {
	// Deadline is when a failing check stops being retried; RetryEvery how often it is.
	Deadline   time.Time
	RetryEvery time.Duration
	Out        io.Writer

	results []CategoryResult
}

// Run runs the checks of c until the first failed fatal one, and says whether none failed
// fatally.
func (r *Runner) Run(ctx context.Context, c Category) bool {
	res := CategoryResult{Name: c.Name, Checks: []CheckResult{}}
	if r.Out != nil {
		if len(r.results) > 0 {
			fmt.Fprintln(r.Out)
		}
		fmt.Fprintf(r.Out, "%s\n%s\n", c.Name, strings.Repeat("-", utf8.RuneCountInString(c.Name)))
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

// try runs a check, again every RetryEvery while it fails, until the deadline.
func (r *Runner) try(ctx context.Context, ch Check) error {
	for {
		err := ch.Run(ctx)
		if err == nil || r.RetryEvery <= 0 || !time.Now().Add(r.RetryEvery).Before(r.Deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(r.RetryEvery):
		}
	}
}

func (r *Runner) print(cr CheckResult) {
	if r.Out == nil {
		return
	}
	if cr.Result == "success" {
		fmt.Fprintf(r.Out, "✓ %s\n", cr.Description)
		return
	}
	fmt.Fprintf(r.Out, "× %s\n    %s\n", cr.Description, cr.Error)
	if cr.Hint != "" {
		fmt.Fprintf(r.Out, "    hint: %s\n", cr.Hint)
	}
}

// Counts is how many checks ran and how many of them failed.
func (r *Runner) Counts() (total, failed int) {
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

// Report is every outcome so far.
func (r *Runner) Report() Report {
	_, failed := r.Counts()
	return Report{Success: failed == 0, Categories: r.results}
}

// OnceOK returns f, its first success remembered. A failure is not: the next call tries
// again, so a check retried until a deadline sees what was fixed meanwhile.
func OnceOK[T any](f func(context.Context) (T, error)) func(context.Context) (T, error) {
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

// Finish ends a run: it prints the report as JSON on out when asJSON, the count of passed
// checks on Out when all passed, and returns an error saying how many failed, if any.
func (r *Runner) Finish(out io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(r.Report(), "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", b)
	}
	total, failed := r.Counts()
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, total)
	}
	if r.Out != nil {
		fmt.Fprintf(r.Out, "\n✓ all %d checks passed\n", total)
	}
	return nil
}
