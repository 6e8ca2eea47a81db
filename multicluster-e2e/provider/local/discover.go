package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// runningNode is a node's init process found on the system.
type runningNode struct {
	PID      int
	Name     string
	SpecPath string
}

// runningNodes finds every node init on the machine by its command line: the marker argument
// is the one thing that survives a crash of the process that started it.
func runningNodes() ([]runningNode, error) {
	var out []runningNode
	err := eachProcess(func(pid int, args []string) {
		if len(args) >= 4 && args[1] == nodeArg && !zombie(pid) {
			out = append(out, runningNode{PID: pid, Name: args[2], SpecPath: args[3]})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// eachProcess calls fn with every process's PID and command line; processes that go while
// it reads are skipped.
func eachProcess(fn func(pid int, args []string)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		fn(pid, strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00"))
	}
	return nil
}

// alive tells whether pid is a process that has not exited: a zombie has.
func alive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil && !zombie(pid)
}

func zombie(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && f[0] == "Z"
}

// statFields are the fields of /proc/<pid>/stat after the command name, which is in
// parentheses and may hold spaces: state, ppid, and so on. Nil when the process is gone.
func statFields(pid int) []string {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(stat[i+1:]))
}

// Leftovers lists what of a run under root exists on the system: node processes, any process
// whose command line names the run folder, the bridge and veths, cgroups, mounts, and the run
// folder itself. After Down it is empty.
func Leftovers(root string) ([]string, error) {
	var left []string
	nodes, err := runningNodes()
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		left = append(left, fmt.Sprintf("node process %s (pid %d)", n.Name, n.PID))
	}
	err = eachProcess(func(pid int, args []string) {
		cmdline := strings.Join(args, " ")
		if pid != os.Getpid() && alive(pid) && strings.Contains(cmdline, root+"/") {
			left = append(left, fmt.Sprintf("process %d: %s", pid, cmdline))
		}
	})
	if err != nil {
		return nil, err
	}
	links, err := ourLinks()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		left = append(left, "network link "+l)
	}
	cgs, err := ourCgroups()
	if err != nil {
		return nil, err
	}
	for _, cg := range cgs {
		left = append(left, "cgroup "+cg)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == root || strings.HasPrefix(f[4], root+"/")) {
			left = append(left, "mount "+f[4])
		}
	}
	if _, err := os.Stat(root); err == nil {
		left = append(left, "folder "+root)
	}
	return left, nil
}

// componentPIDs finds the processes of one component of a node: its binary's name, and a
// command line that names the node's folder.
func componentPIDs(l layout, component string) ([]int, error) {
	var out []int
	err := eachProcess(func(pid int, args []string) {
		if filepath.Base(args[0]) == component && strings.Contains(strings.Join(args, " "), l.dir+"/") && alive(pid) {
			out = append(out, pid)
		}
	})
	return out, err
}
