package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
	"github.com/meshfed/meshfed/internal/benchstat"
)

// The goals the table checks.
const (
	goalP50 = 200 * time.Microsecond // added at the fixed rate
	goalP99 = time.Millisecond
	goalRSS = 20 << 20 // each proxy, idle
)

// check is one goal on one measure.
type check struct {
	goal, what string
	met        bool
}

// table renders rows, gathering the goals' checks as it goes.
type table struct {
	w      *tabwriter.Writer
	checks []check
}

func printTable(out io.Writer, o options, direct, mesh, ha *measures) error {
	t := &table{w: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)}
	fmt.Fprintf(t.w, "measure (%d connections, %s runs)\tdirect\tmeshfed pair\thaproxy pair\tmeshfed vs direct\thaproxy vs direct\tmeshfed / haproxy\tgoal\n", o.conns, o.duration)
	for i, proto := range protocols {
		for j, p := range loadtest.Percentiles {
			t.latency(fmt.Sprintf("%s p%g at %d req/s", proto.name, p, o.qps), proto.name, p,
				direct.latency[i][j], mesh.latency[i][j], ha.latency[i][j])
		}
		t.rate(proto.name+" max req/s", proto.name, "%.0f/s", direct.maxRate[i], mesh.maxRate[i], ha.maxRate[i])
		t.cost(proto.name, mesh.cost[i], ha.cost[i])
	}
	t.rate("bulk TCP", "", "%.0f MiB/s", direct.bulk, mesh.bulk, ha.bulk)
	for i, side := range []string{"client-side", "server-side"} {
		t.rss(fmt.Sprintf("RSS idle, %s proxy", side), side, true, mesh.idle[i], ha.idle[i])
	}
	for i, side := range []string{"client-side", "server-side"} {
		t.rss(fmt.Sprintf("RSS peak at max req/s, %s proxy", side), side, false, mesh.loaded[i], ha.loaded[i])
	}
	if err := t.w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out, t.goalsLine(o))
	return err
}

func (t *table) latency(name, proto string, p float64, d, m, h time.Duration) {
	goal := ""
	switch p {
	case 50:
		goal = t.check(fmt.Sprintf("added p50 < %s", benchstat.Millis(goalP50)), proto, m-d < goalP50)
	case 99:
		goal = t.check(fmt.Sprintf("added p99 < %s", benchstat.Millis(goalP99)), proto, m-d < goalP99)
	}
	fmt.Fprintf(t.w, "%s\t%s\t%s\t%s\t%s\t%s\t%.2fx\t%s\n", name, benchstat.Millis(d), benchstat.Millis(m), benchstat.Millis(h),
		added(m-d), added(h-d), ratio(float64(m), float64(h)), goal)
}

func (t *table) rate(name, proto, format string, d, m, h float64) {
	goal := ""
	if proto != "" {
		goal = t.check("max req/s >= the haproxy pair's", proto, m >= h)
	}
	fmt.Fprintf(t.w, "%s\t"+format+"\t"+format+"\t"+format+"\t%.0f%%\t%.0f%%\t%.2fx\t%s\n", name, d, m, h,
		100*ratio(m, d), 100*ratio(h, d), ratio(m, h), goal)
}

func (t *table) rss(name, side string, idle bool, m, h loadtest.Memory) {
	goal := ""
	if idle {
		goal = t.check(fmt.Sprintf("RSS < %d MiB idle", goalRSS>>20), side, m.RSS < goalRSS)
	}
	fmt.Fprintf(t.w, "%s\t-\t%s\t%s\t\t\t%.2fx\t%s\n", name, mib(m), mib(h), ratio(float64(m.RSS), float64(h.RSS)), goal)
}

// cost is what a request cost both proxies of a pair in the max-rate run: CPU, and for
// meshfed the read and write syscalls. HAProxy's are not comparable: it calls recv and send,
// which /proc/PID/io does not count.
func (t *table) cost(proto string, m, h perRequest) {
	fmt.Fprintf(t.w, "%s CPU per request at max, both proxies\t-\t%.1f µs\t%.1f µs\t\t\t%.2fx\t\n", proto,
		micros(m.cpu), micros(h.cpu), ratio(micros(m.cpu), micros(h.cpu)))
	fmt.Fprintf(t.w, "%s read+write syscalls per request at max, both proxies\t-\t%.1f + %.1f\t-\t\t\t\t\n", proto, m.reads, m.writes)
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// check records a goal's check on one measure and returns the table's goal cell.
func (t *table) check(goal, what string, met bool) string {
	t.checks = append(t.checks, check{goal: goal, what: what, met: met})
	return goal + " " + mark(met)
}

// goalsLine says of each goal whether it is met, and by what not.
func (t *table) goalsLine(o options) string {
	var parts []string
	seen := map[string]bool{}
	for _, c := range t.checks {
		if seen[c.goal] {
			continue
		}
		seen[c.goal] = true
		var missed []string
		for _, d := range t.checks {
			if d.goal == c.goal && !d.met {
				missed = append(missed, d.what)
			}
		}
		if len(missed) == 0 {
			parts = append(parts, c.goal+" ✓")
		} else {
			parts = append(parts, fmt.Sprintf("%s ✗ (%s)", c.goal, strings.Join(missed, ", ")))
		}
	}
	return fmt.Sprintf("goals (added: meshfed less direct, at %d req/s): %s", o.qps, strings.Join(parts, "; "))
}

func mark(met bool) string {
	if met {
		return "✓"
	}
	return "✗"
}

// added formats a latency difference with its sign.
func added(d time.Duration) string {
	if d < 0 {
		return "-" + benchstat.Millis(-d)
	}
	return "+" + benchstat.Millis(d)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// mib formats memory as its RSS with the anonymous part beside it.
func mib(m loadtest.Memory) string {
	return fmt.Sprintf("%.1f MiB (%.1f anon)", float64(m.RSS)/(1<<20), float64(m.Anon)/(1<<20))
}
