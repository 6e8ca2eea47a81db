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
		st, err := readStat(pid)
		if err != nil || st.ppid != self {
			continue // gone since the listing, or not ours
		}
		out[st.name] += st.cpu
	}
	return out, nil
}

// CPU is the CPU time (user and system) one process has used so far: where a bench runs two
// processes of one name (a link controller per cluster), ChildrenCPU cannot tell them apart.
func CPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.cpu, nil
}

// procStat is what the benches read of /proc/<pid>/stat.
type procStat struct {
	name string
	ppid int
	cpu  time.Duration
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name is in parentheses and may hold spaces; the fields after it are
	// state, ppid, ..., utime (the 14th field of the line) and stime (the 15th).
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields after the name, want 13 or more", pid, len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat ppid %q: %w", pid, f[1], err)
	}
	var ticks uint64
	for _, v := range f[11:13] { // utime, stime
		t, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat CPU time %q: %w", pid, v, err)
		}
		ticks += t
	}
	// /proc counts in USER_HZ, which is 100 on Linux whatever the kernel's HZ.
	return procStat{name: s[open+1 : end], ppid: ppid, cpu: time.Duration(ticks) * 10 * time.Millisecond}, nil
}
