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
	byNS := map[string]string{}
	for _, n := range nodes {
		ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(n.PID), "ns", "pid"))
		if err != nil {
			return nil, err
		}
		byNS[ns] = n.Name
	}
	out := map[string]Usage{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		// The node's init is PID 1 of the node's namespace, so it counts as well.
		ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid"))
		if err != nil {
			continue
		}
		name, ok := byNS[ns]
		if !ok {
			continue
		}
		rss, pss := rollup(filepath.Join("/proc", e.Name(), "smaps_rollup"))
		u := out[name]
		u.Processes++
		u.RSS += rss
		u.PSS += pss
		out[name] = u
	}
	return out, nil
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
