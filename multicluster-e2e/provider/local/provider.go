package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/pkg/progress"
)

// DefaultRoot is the run folder: one per machine, as the bridge and addresses are.
const DefaultRoot = "/var/lib/meshfed-local"

// runMarker marks a folder as a run folder, so Down never removes a folder it did not make.
const runMarker = ".meshfed-local-run"

// Provider runs local clusters. It implements provider.Provider.
type Provider struct {
	root    string
	builder *build.Builder
	status  *progress.Printer
	// Retain keeps what a failed Up made, for a look at the logs.
	Retain bool
}

var _ provider.Provider = (*Provider)(nil)

// New returns a provider keeping its run under root (DefaultRoot when empty), building what
// it needs with b and printing its steps to out.
func New(root string, b *build.Builder, out io.Writer) *Provider {
	if root == "" {
		root = DefaultRoot
	}
	return &Provider{root: root, builder: b, status: progress.New(out)}
}

// Kubeconfig returns the path of the kubeconfig with a context per cluster.
func (p *Provider) Kubeconfig() string { return filepath.Join(p.root, "kubeconfig") }

// Kubectl returns the path of the kubectl built for these clusters.
func (p *Provider) Kubectl(ctx context.Context) (string, error) {
	bins, err := p.kubeBinaries(ctx)
	if err != nil {
		return "", err
	}
	return bins.kube("kubectl"), nil
}

// Clusters lists the clusters that are up.
func (p *Provider) Clusters() ([]string, error) {
	nodes, err := runningNodes()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names, nil
}

// Up brings the clusters up; see provider.Provider.
func (p *Provider) Up(ctx context.Context, opts provider.Options) (err error) {
	clusters, err := plan(opts.Clusters)
	if err != nil {
		return err
	}
	if err := thisHost().preflight(); err != nil {
		return err
	}
	if names, err := p.Clusters(); err != nil {
		return err
	} else if len(names) > 0 {
		return fmt.Errorf("clusters %s are already up: run `clusters down` first", strings.Join(names, ", "))
	}
	// Whatever a crashed run left (links, cgroups, the run folder) goes before anything starts.
	if err := p.Down(ctx); err != nil {
		return fmt.Errorf("cleaning up an earlier run: %w", err)
	}
	if err := busyAddress(hostAddresses); err != nil {
		return err
	}

	bins, seed, err := p.prebuild(ctx)
	if err != nil {
		return err
	}

	defer func() {
		if err != nil && !p.Retain {
			if derr := p.Down(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", derr))
			}
		}
	}()
	if err := p.status.Run("Preparing nodes ("+names(clusters)+")", func() error {
		if err := os.MkdirAll(p.root, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p.root, runMarker), nil, 0o644); err != nil {
			return err
		}
		if err := createBridge(); err != nil {
			return err
		}
		for _, c := range clusters {
			if err := p.startNode(c, clusters, opts.Flat, bins, seed); err != nil {
				return fmt.Errorf("node %s: %w", c.Name, err)
			}
		}
		return p.writeKubeconfig(clusters)
	}); err != nil {
		return err
	}

	errs := make([]error, len(clusters))
	var wg sync.WaitGroup
	for i, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.bringUp(ctx, c, bins)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.status.Printf("Clusters %s are up. Reach them with:\n  export KUBECONFIG=%s PATH=%s:$PATH\n  kubectl --context %s get nodes\n",
		names(clusters), p.Kubeconfig(), filepath.Dir(p.kubectlLink()), clusters[0].Name)
	return nil
}

// Prebuild builds, or finds in the cache, every binary and image the clusters run.
func (p *Provider) Prebuild(ctx context.Context) error {
	_, _, err := p.prebuild(ctx)
	return err
}

// prebuild returns the node binaries and the seed of the nodes' image stores.
func (p *Provider) prebuild(ctx context.Context) (bins binaries, seed string, err error) {
	err = p.status.Run("Building Kubernetes "+build.KubernetesVersion+" and images", func() error {
		if bins, err = p.kubeBinaries(ctx); err != nil {
			return err
		}
		imgs, err := p.images(ctx)
		if err != nil {
			return err
		}
		if seed, err = p.seed(ctx, imgs); err != nil {
			return err
		}
		return p.linkKubectl(bins)
	})
	return bins, seed, err
}

// kubectlLink is where the kubectl built for the clusters is linked, beside the cache's
// other binaries, so one PATH entry gives users both.
func (p *Provider) kubectlLink() string { return filepath.Join(p.builder.Cache, "bin", "kubectl") }

func (p *Provider) linkKubectl(bins binaries) error {
	link := p.kubectlLink()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	os.Remove(link)
	return os.Symlink(bins.kube("kubectl"), link)
}

func names(cs []cluster) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

// bringUp waits for one cluster's control plane and node, and installs the add-ons.
func (p *Provider) bringUp(ctx context.Context, c cluster, bins binaries) error {
	k, err := newKube(p.Kubeconfig(), c.Name, bins.kube("kubectl"))
	if err != nil {
		return err
	}
	l := p.layout(c.Name)
	if err := p.status.Run("Starting control plane ("+c.Name+")", func() error {
		return k.awaitAPIServer(ctx, time.Minute, l.log("kube-apiserver"))
	}); err != nil {
		return err
	}
	if err := p.status.Run("Waiting for node Ready ("+c.Name+")", func() error {
		return k.awaitNodeReady(ctx, c.Name, time.Minute, l.log("kubelet"))
	}); err != nil {
		return err
	}
	return p.status.Run("Installing CoreDNS, cert-manager, MetalLB ("+c.Name+")", func() error {
		return installAddons(ctx, k, c)
	})
}

func (p *Provider) layout(name string) layout { return layout{filepath.Join(p.root, name)} }

// startNode writes the node's files and starts its init in new namespaces.
func (p *Provider) startNode(c cluster, all []cluster, flat bool, bins binaries, seed string) error {
	l := p.layout(c.Name)
	if err := plantSeed(seed, l.path("containerd", "root")); err != nil {
		return fmt.Errorf("planting the image seed: %w", err)
	}
	pk, err := makePKI(c, l.path("pki"))
	if err != nil {
		return err
	}
	if err := writeConfigs(c, l, pk, pauseImage); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*kubeconfig(c, apiServerURL(c.NodeIP.String()), pk, "admin", c.Name), l.config("admin.kubeconfig")); err != nil {
		return err
	}
	spec := nodeSpec{
		Name:              c.Name,
		Dir:               l.dir,
		NodeIP:            c.NodeIP.String() + "/24",
		ServiceCIDR:       c.ServiceCIDR.String(),
		ClusterSetIPRange: clusterSetIPRange,
		PodCIDR:           c.PodCIDR.String(),
		KeepSource:        c.PodCIDR.String(),
		Components:        components(c, l, bins),
	}
	if flat {
		spec.KeepSource = allPodRanges
		for _, o := range all {
			if o.Name != c.Name {
				spec.Routes = append(spec.Routes, route{Dst: o.PodCIDR.String(), Via: o.NodeIP.String()})
			}
		}
	}
	if err := writeJSON(l.nodeSpec(), spec); err != nil {
		return err
	}
	if err := createCgroups(c.Name); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.Create(l.log("node"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer goW.Close()
	cmd := exec.Command(self, nodeArg, c.Name, l.nodeSpec())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{goR}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		// Its own session: the node outlives `clusters up` and ignores its terminal.
		Setsid: true,
	}
	err = cmd.Start()
	goR.Close()
	if err != nil {
		return fmt.Errorf("starting the node's init: %w", err)
	}
	if err := plugNode(c, cmd.Process.Pid); err != nil {
		return err
	}
	if _, err := goW.Write([]byte{1}); err != nil {
		return fmt.Errorf("the node's init stopped at start: see %s", l.log("node"))
	}
	return nil
}

// writeKubeconfig merges the clusters' admin kubeconfigs into one, a context per cluster.
func (p *Provider) writeKubeconfig(clusters []cluster) error {
	merged := clientcmdapi.NewConfig()
	for _, c := range clusters {
		cfg, err := clientcmd.LoadFromFile(p.layout(c.Name).config("admin.kubeconfig"))
		if err != nil {
			return err
		}
		merged.Clusters[c.Name] = cfg.Clusters[c.Name]
		merged.AuthInfos[c.Name] = cfg.AuthInfos[c.Name]
		merged.Contexts[c.Name] = cfg.Contexts[c.Name]
	}
	merged.CurrentContext = clusters[0].Name
	return clientcmd.WriteToFile(*merged, p.Kubeconfig())
}

// Load imports an image tarball into the named clusters' nodes, or every node.
func (p *Provider) Load(ctx context.Context, tarball string, clusters ...string) error {
	if _, err := os.Stat(tarball); err != nil {
		return fmt.Errorf("image tarball: %w", err)
	}
	up, err := p.Clusters()
	if err != nil {
		return err
	}
	if len(up) == 0 {
		return fmt.Errorf("no cluster is up: run `clusters up` first")
	}
	if len(clusters) == 0 {
		clusters = up
	}
	for _, name := range clusters {
		if !slices.Contains(up, name) {
			return fmt.Errorf("cluster %q is not up; the clusters up are %s", name, strings.Join(up, ", "))
		}
	}
	for _, name := range clusters {
		if err := loadImages(ctx, p.layout(name), []string{tarball}); err != nil {
			return err
		}
	}
	return nil
}

// StopComponent stops one component of a cluster's node (such as "kube-apiserver") and keeps
// it down until StartComponent: what a test does to see the cluster without it.
func (p *Provider) StopComponent(cluster, component string) error {
	l := p.layout(cluster)
	if err := os.MkdirAll(filepath.Dir(l.hold(component)), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(l.hold(component), nil, 0o644); err != nil {
		return err
	}
	pids, err := componentPIDs(l, component)
	if err != nil {
		return err
	}
	if len(pids) == 0 {
		return fmt.Errorf("no %s runs in cluster %s", component, cluster)
	}
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	return nil
}

// StartComponent lets a component stopped by StopComponent run again; the node's init starts
// it within a second or two.
func (p *Provider) StartComponent(cluster, component string) error {
	if err := os.Remove(p.layout(cluster).hold(component)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Down removes every process, link, cgroup, mount and file of the run, and of a crashed run.
func (p *Provider) Down(ctx context.Context) error {
	nodes, err := runningNodes()
	if err != nil {
		return err
	}
	for _, n := range nodes {
		// The kernel kills every process of a PID namespace when its init dies, and the node's
		// mounts go with the last process of its mount namespace.
		if err := unix.Kill(n.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("stopping node %s (pid %d): %w", n.Name, n.PID, err)
		}
	}
	var errs []error
	err = waitFor(ctx, 30*time.Second, "the nodes' processes to exit", func() (bool, error) {
		for _, n := range nodes {
			// A node this process started is its child: reap it, or it stays a zombie.
			var ws unix.WaitStatus
			unix.Wait4(n.PID, &ws, unix.WNOHANG, nil)
			if alive(n.PID) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	links, err := ourLinks()
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := ipCmd("link", "del", l); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	// A container's processes may take a moment after the kill to leave their cgroups.
	err = waitFor(ctx, 30*time.Second, "the clusters' cgroups to empty", func() (bool, error) {
		cgs, err := ourCgroups()
		if err != nil {
			return false, err
		}
		for _, cg := range cgs {
			if removeCgroupTree(cg) != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(p.root); err != nil {
		errs = append(errs, err)
	}
	if err := p.removeRoot(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *Provider) removeRoot() error {
	if _, err := os.Stat(p.root); os.IsNotExist(err) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(p.root, runMarker)); err != nil {
		return fmt.Errorf("%s exists but was not made by this provider (no %s in it): remove it yourself or choose another --root", p.root, runMarker)
	}
	return os.RemoveAll(p.root)
}

// unmountUnder unmounts anything still mounted under dir in the host's mount namespace. The
// nodes mount in their own namespaces, so this finds something only after an outside mistake.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}

// waitFor polls cond until it holds, returning an error that names what was awaited when the
// deadline passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %w", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
