// Package benchstat holds the few statistics the bench commands print: percentiles of
// latencies, in milliseconds, and a process's resident memory. It is for bench commands only.
package benchstat

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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

// RSS is a process's resident set size in bytes (VmRSS of /proc/<pid>/status).
func RSS(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// ChildrenCPU is the CPU time (user and system) each child process of this one has used so
// far, summed by command name: a bench takes it before and after a phase to say which of the
// processes it runs (apiservers, etcds, the component measured) the machine spent its time on.
func ChildrenCPU() (map[string]time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	out := map[string]time.Duration{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since the listing
		}
		// The command name is in parentheses and may hold spaces; the fields after it are
		// state, ppid, ..., utime (the 14th field of the line) and stime (the 15th).
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != self {
			continue
		}
		utime, _ := strconv.ParseUint(f[11], 10, 64)
		stime, _ := strconv.ParseUint(f[12], 10, 64)
		// /proc counts in USER_HZ, which is 100 on Linux whatever the kernel's HZ.
		out[s[open+1:end]] += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return out, nil
}
