package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
)

// binaries are the programs a node runs: Kubernetes built here, the rest from Debian.
type binaries struct {
	kubeDir    string
	etcd       string
	containerd string
}

func (b binaries) kube(name string) string { return filepath.Join(b.kubeDir, name) }

func (p *Provider) kubeBinaries(ctx context.Context) (binaries, error) {
	dir, err := p.builder.Tool(ctx, build.Kubernetes())
	if err != nil {
		return binaries{}, err
	}
	return binaries{kubeDir: dir, etcd: "/usr/bin/etcd", containerd: "/usr/bin/containerd"}, nil
}

// hostCommands are what the nodes run from the host, with the package that has each.
var hostCommands = []struct{ name, pkg string }{
	{"etcd", "etcd-server"},
	{"containerd", "containerd"},
	{"containerd-shim-runc-v2", "containerd"},
	{"ctr", "containerd"},
	{"runc", "runc"},
	{"iptables", "iptables"},
	{"conntrack", "conntrack"},
	{"ip", "iproute2"},
}

var cniPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// preflight says, in one line, what is missing for the nodes to run.
func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("local clusters need root (namespaces, cgroups, iptables): run as root, e.g. sudo -E")
	}
	var missing []string
	pkgs := map[string]bool{}
	for _, c := range hostCommands {
		if _, err := exec.LookPath(c.name); err != nil {
			if _, err := os.Stat(filepath.Join("/usr/sbin", c.name)); err != nil {
				missing = append(missing, c.name)
				pkgs[c.pkg] = true
			}
		}
	}
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			missing = append(missing, "CNI plugin "+p)
			pkgs["containernetworking-plugins"] = true
		}
	}
	if len(missing) > 0 {
		var list []string
		for p := range pkgs {
			list = append(list, p)
		}
		return fmt.Errorf("missing %s: run hack/install-deps.sh (it installs %s)", strings.Join(missing, ", "), strings.Join(list, " "))
	}
	if _, err := os.Stat(filepath.Join(cgroupFS, "cpuset", "cpuset.cpus")); err != nil {
		return fmt.Errorf("no cgroup v1 cpuset hierarchy at %s/cpuset: the local nodes run kubelet with cgroupfs on cgroup v1", cgroupFS)
	}
	return nil
}
