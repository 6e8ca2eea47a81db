package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// hostView is what preflight looks at, so a test can show it another machine.
type hostView struct {
	euid     int
	lookPath func(string) (string, error)
	stat     func(string) (os.FileInfo, error)
}

func thisHost() hostView {
	return hostView{euid: os.Geteuid(), lookPath: exec.LookPath, stat: os.Stat}
}

// preflight says, in one line, what is missing for the nodes to run.
func (h hostView) preflight() error {
	if h.euid != 0 {
		return fmt.Errorf("local clusters need root (namespaces, cgroups, iptables): run as root, e.g. sudo -E")
	}
	var missing, pkgs []string
	need := func(what, pkg string) {
		missing = append(missing, what)
		if !slices.Contains(pkgs, pkg) {
			pkgs = append(pkgs, pkg)
		}
	}
	for _, c := range hostCommands {
		if _, err := h.lookPath(c.name); err != nil {
			// root's PATH may lack /usr/sbin under sudo.
			if _, err := h.stat(filepath.Join("/usr/sbin", c.name)); err != nil {
				need(c.name, c.pkg)
			}
		}
	}
	for _, p := range cniPlugins {
		if _, err := h.stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			need("CNI plugin "+p, "containernetworking-plugins")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run hack/install-deps.sh (it installs %s)", strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	if _, err := h.stat(filepath.Join(cgroupFS, "cpuset", "cpuset.cpus")); err != nil {
		return fmt.Errorf("no cgroup v1 cpuset hierarchy at %s/cpuset: the local nodes run kubelet with cgroupfs on cgroup v1", cgroupFS)
	}
	return nil
}
