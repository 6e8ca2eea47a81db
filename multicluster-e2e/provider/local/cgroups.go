package local

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Each kubelet gets a cgroup root of its own (/meshfed-<cluster>) in every hierarchy, so two
// kubelets on one machine do not share /kubepods. kubelet's cgroupfs driver expects the root
// to exist, and a cpuset cgroup is unusable until its cpus and mems are set.

const cgroupFS = "/sys/fs/cgroup"

func cgroupName(cluster string) string { return "meshfed-" + cluster }

func hierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupFS)
	if err != nil {
		return nil, fmt.Errorf("listing cgroup hierarchies: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(cgroupFS, e.Name()))
		}
	}
	return out, nil
}

func createCgroups(cluster string) error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := filepath.Join(h, cgroupName(cluster))
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("making cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) != "cpuset" {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := os.ReadFile(filepath.Join(h, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
				return fmt.Errorf("setting %s of %s: %w", f, dir, err)
			}
		}
	}
	return nil
}

// ourCgroups lists the cgroup roots of every cluster, in every hierarchy.
func ourCgroups() ([]string, error) {
	var out []string
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		m, _ := filepath.Glob(filepath.Join(h, "meshfed-*"))
		out = append(out, m...)
	}
	return out, nil
}

// removeCgroupTree removes a cgroup and every cgroup below it, deepest first. Only
// directories are removed: the files in a cgroup are the kernel's and go with it.
func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing cgroup %s: %w", d, err)
		}
	}
	return nil
}
