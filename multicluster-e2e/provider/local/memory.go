package local

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Usage is the memory one cluster's node holds: every process in its PID namespace, the
// components and all pods' containers alike.
type Usage struct {
	Processes int
	// RSS counts shared pages in every process that maps them; PSS shares them out, so the
	// PSS of all clusters adds up to what they cost the machine.
	RSS, PSS uint64 // bytes
}

// Memory returns the memory of each cluster that is up.
func (p *Provider) Memory() (map[string]Usage, error) {
	nodes, err := runningNodes()
	if err != nil {
		return nil, err
	}
	// Every process of a node descends from its init: the components directly, the pods'
	// processes through containerd's shims, which re-parent to the init. Pods have PID
	// namespaces of their own, so the node's namespace alone would miss them.
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := map[string]Usage{}
	for _, n := range nodes {
		var u Usage
		for todo := []int{n.PID}; len(todo) > 0; {
			pid := todo[len(todo)-1]
			todo = append(todo[:len(todo)-1], children[pid]...)
			rss, pss := rollup(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
			u.Processes++
			u.RSS += rss
			u.PSS += pss
		}
		out[n.Name] = u
	}
	return out, nil
}

func parentOf(pid int) (int, bool) {
	f := statFields(pid)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func rollup(path string) (rss, pss uint64) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = kb * 1024
		case "Pss:":
			pss = kb * 1024
		}
	}
	return rss, pss
}
