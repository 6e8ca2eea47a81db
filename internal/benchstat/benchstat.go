// Package benchstat holds the few statistics the bench commands print: percentiles of
// latencies, in milliseconds. It is for bench commands only.
package benchstat

import (
	"fmt"
	"slices"
	"time"
)

// Percentile returns the p-th percentile of d (nearest rank), 0 for no samples.
func Percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}

// Millis formats d as milliseconds with a tenth, or with a thousandth under 1 ms.
func Millis(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.3f ms", float64(d.Nanoseconds())/1e6)
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
