package kind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/nodeimages"
	"github.com/meshfed/meshfed/pkg/progress"
)

// Provider runs kind clusters. It implements provider.Provider.
type Provider struct {
	dir     string
	builder *build.Builder
	status  *progress.Printer
	run     runner
	// NodeImage is the kindest/node image of every node; DefaultNodeImage when empty.
	NodeImage string
	// Retain keeps the clusters of a failed Up, for a look with `kind export logs`.
	Retain bool
}

var _ provider.Provider = (*Provider)(nil)

// New returns a provider keeping its kubeconfig and kind configs under dir (the folder "kind"
// of the build cache when empty), building images with b and printing its steps to out.
func New(dir string, b *build.Builder, out io.Writer) *Provider {
	if dir == "" {
		dir = filepath.Join(b.Cache, "kind")
	}
	return &Provider{dir: dir, builder: b, status: progress.New(out), run: runCommand}
}

// Kubeconfig returns the path of the kubeconfig with a context per cluster, named as the
// cluster. kind's own kubeconfig (~/.kube/config) is left alone.
func (p *Provider) Kubeconfig() string { return filepath.Join(p.dir, "kubeconfig") }

func (p *Provider) nodeImage() string {
	if p.NodeImage == "" {
		return DefaultNodeImage
	}
	return p.NodeImage
}

// KubernetesVersion returns the version the nodes run, read from the node image's tag; empty
// when the tag does not say.
func (p *Provider) KubernetesVersion() string { return imageVersion(p.nodeImage()) }

// Kubectl returns the path of a kubectl for these clusters: the one built for the local
// clusters, so that tests drive both providers with the same client.
func (p *Provider) Kubectl(ctx context.Context) (string, error) {
	dir, err := p.builder.Tool(ctx, build.Kubernetes())
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kubectl"), nil
}

// Clusters lists, by their bare names, the kind clusters this provider made that exist.
func (p *Provider) Clusters(ctx context.Context) ([]string, error) {
	out, err := p.run(ctx, nil, "kind", "get", "clusters")
	if err != nil {
		return nil, err
	}
	return ourClusters(strings.Fields(string(out))), nil
}

// preflight checks that docker and kind are there and the docker daemon answers, before
// anything is made.
func (p *Provider) preflight(ctx context.Context) error {
	if _, err := p.run(ctx, nil, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		return err
	}
	_, err := p.run(ctx, nil, "kind", "version")
	return err
}

// Up brings the clusters up; see provider.Provider.
func (p *Provider) Up(ctx context.Context, opts provider.Options) (err error) {
	clusters, err := plan(opts.Clusters)
	if err != nil {
		return err
	}
	if err := p.preflight(ctx); err != nil {
		return err
	}
	if up, err := p.Clusters(ctx); err != nil {
		return err
	} else if len(up) > 0 {
		return fmt.Errorf("clusters %s are already up: run `clusters down --provider kind` first", strings.Join(up, ", "))
	}

	var tarballs []string
	if err := p.status.Run("Building images", func() error {
		specs, err := nodeimages.Specs(ctx, p.builder)
		if err != nil {
			return err
		}
		tarballs, err = nodeimages.PackAll(p.builder, specs)
		return err
	}); err != nil {
		return err
	}
	kubectl, err := p.Kubectl(ctx)
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
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	// One after the other: the first create makes the docker network the others join, and
	// parallel creates are what kind tests least.
	for _, c := range clusters {
		if err := p.status.Run("Creating kind cluster "+c.kindName(), func() error {
			return p.createCluster(ctx, c)
		}); err != nil {
			return err
		}
	}
	net, err := p.network(ctx)
	if err != nil {
		return err
	}
	pools, err := lbPools(net, len(clusters))
	if err != nil {
		return err
	}
	if err := p.status.Run("Routing between nodes", func() error {
		return p.route(ctx, clusters, net, opts.Flat)
	}); err != nil {
		return err
	}
	if err := p.writeKubeconfig(ctx, clusters, net); err != nil {
		return err
	}
	if err := p.status.Run("Loading images", func() error {
		return p.loadAll(ctx, tarballs, clusters)
	}); err != nil {
		return err
	}

	errs := make([]error, len(clusters))
	var wg sync.WaitGroup
	for i, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.status.Run("Installing CoreDNS, cert-manager, MetalLB ("+c.Name+")", func() error {
				k := &kube{run: p.run, kubectl: kubectl, kubeconfig: p.Kubeconfig(), context: c.Name}
				return installAddons(ctx, k, c, pools[i])
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.status.Printf("Clusters %s are up on kind. Reach them with:\n  export KUBECONFIG=%s\n  kubectl --context %s get nodes\n",
		names(clusters), p.Kubeconfig(), clusters[0].Name)
	return nil
}

func names(cs []cluster) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

// createCluster writes c's kind config and creates the cluster. kind's kubeconfig goes to a
// file of the provider's, not to the user's ~/.kube/config.
func (p *Provider) createCluster(ctx context.Context, c cluster) error {
	cfg, err := renderConfig(c, p.nodeImage())
	if err != nil {
		return err
	}
	path := filepath.Join(p.dir, c.Name+".kind.yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return err
	}
	args := []string{"create", "cluster", "--name", c.kindName(), "--config", path,
		"--kubeconfig", filepath.Join(p.dir, c.Name+".kind.kubeconfig"), "--wait", "3m"}
	if p.Retain {
		args = append(args, "--retain")
	}
	_, err = p.run(ctx, nil, "kind", args...)
	return err
}

// network reads the docker network the nodes share.
func (p *Provider) network(ctx context.Context) (network, error) {
	out, err := p.run(ctx, nil, "docker", "network", "inspect", dockerNetwork)
	if err != nil {
		return network{}, err
	}
	return parseNetwork(out)
}

// route adds each node's routes to the other clusters' pod ranges.
func (p *Provider) route(ctx context.Context, clusters []cluster, net network, flat bool) error {
	routes, err := nodeRoutes(clusters, net.Nodes, flat)
	if err != nil {
		return err
	}
	for _, c := range clusters {
		for _, r := range routes[c.node()] {
			if _, err := p.run(ctx, nil, "docker", append([]string{"exec", c.node(), "ip"}, r...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeKubeconfig merges kind's kubeconfigs into the provider's, each cluster's API server at
// its node's address on the kind network: the address other clusters reach it at too.
func (p *Provider) writeKubeconfig(ctx context.Context, clusters []cluster, net network) error {
	var in []clusterKubeconfig
	for _, c := range clusters {
		out, err := p.run(ctx, nil, "kind", "get", "kubeconfig", "--name", c.kindName())
		if err != nil {
			return err
		}
		in = append(in, clusterKubeconfig{Name: c.Name, Kind: out, Server: apiServerURL(net.Nodes[c.node()])})
	}
	data, err := mergeKubeconfigs(in)
	if err != nil {
		return err
	}
	return os.WriteFile(p.Kubeconfig(), data, 0o600)
}

func apiServerURL(node netip.Addr) string {
	return "https://" + netip.AddrPortFrom(node, apiPort).String()
}

func (p *Provider) loadAll(ctx context.Context, tarballs []string, clusters []cluster) error {
	for _, t := range tarballs {
		for _, c := range clusters {
			if _, err := p.run(ctx, nil, "kind", "load", "image-archive", "--name", c.kindName(), t); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load imports an image tarball into the named clusters' nodes, or every node.
func (p *Provider) Load(ctx context.Context, tarball string, clusters ...string) error {
	if _, err := os.Stat(tarball); err != nil {
		return fmt.Errorf("image tarball: %w", err)
	}
	up, err := p.Clusters(ctx)
	if err != nil {
		return err
	}
	if len(up) == 0 {
		return fmt.Errorf("no cluster is up: run `clusters up --provider kind` first")
	}
	if len(clusters) == 0 {
		clusters = up
	}
	var targets []cluster
	for _, name := range clusters {
		if !slices.Contains(up, name) {
			return fmt.Errorf("cluster %q is not up; the clusters up are %s", name, strings.Join(up, ", "))
		}
		targets = append(targets, cluster{Name: name})
	}
	return p.loadAll(ctx, []string{tarball}, targets)
}

// Down deletes the kind clusters this provider made, and only those: a kind cluster whose
// name lacks ClusterPrefix is a user's. It removes the provider's kubeconfig and configs.
func (p *Provider) Down(ctx context.Context) error {
	up, err := p.Clusters(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range up {
		if _, err := p.run(ctx, nil, "kind", "delete", "cluster", "--name", ClusterPrefix+name,
			"--kubeconfig", filepath.Join(p.dir, name+".kind.kubeconfig")); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return p.removeFiles()
}

// removeFiles removes the files Up writes, and the folder if nothing else is in it: the
// folder may be one the user chose and keeps other things in.
func (p *Provider) removeFiles() error {
	ours, err := filepath.Glob(filepath.Join(p.dir, "*.kind.*"))
	if err != nil {
		return err
	}
	for _, f := range append(ours, p.Kubeconfig()) {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Remove(p.dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		return err
	}
	return nil
}

// staticPods are the components kubeadm runs as static pods: stopping one is taking its
// manifest away from kubelet.
var staticPods = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// StopComponent stops one control-plane component of a cluster's node (such as
// "kube-apiserver") until StartComponent, as the local provider's does: kubelet stops a static
// pod whose manifest leaves /etc/kubernetes/manifests, and starts it when it is back.
func (p *Provider) StopComponent(ctx context.Context, cluster, component string) error {
	if !slices.Contains(staticPods, component) {
		return fmt.Errorf("component %q cannot be stopped on kind: the ones that can are %s", component, strings.Join(staticPods, ", "))
	}
	_, err := p.run(ctx, nil, "docker", "exec", NodeName(cluster), "mv",
		manifestPath(component, false), manifestPath(component, true))
	return err
}

// StartComponent lets a component stopped by StopComponent run again; kubelet starts it
// within seconds.
func (p *Provider) StartComponent(ctx context.Context, cluster, component string) error {
	if !slices.Contains(staticPods, component) {
		return fmt.Errorf("component %q cannot be started on kind: the ones that can are %s", component, strings.Join(staticPods, ", "))
	}
	_, err := p.run(ctx, nil, "docker", "exec", NodeName(cluster), "mv",
		manifestPath(component, true), manifestPath(component, false))
	return err
}

// manifestPath is where a static pod's manifest is when it runs, or kept while it is stopped:
// outside the folder kubelet watches.
func manifestPath(component string, stopped bool) string {
	if stopped {
		return "/etc/kubernetes/" + component + ".yaml.stopped"
	}
	return "/etc/kubernetes/manifests/" + component + ".yaml"
}

// ExportLogs writes every log of the named clusters' nodes under dir, one folder per cluster,
// with `kind export logs`.
func (p *Provider) ExportLogs(ctx context.Context, dir string, clusters ...string) error {
	var errs []error
	for _, c := range clusters {
		if _, err := p.run(ctx, nil, "kind", "export", "logs", filepath.Join(dir, c), "--name", ClusterPrefix+c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retry runs fn until it succeeds, returning an error that names what was awaited and fn's
// last error when the deadline passes.
func retry(ctx context.Context, timeout time.Duration, what string, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s: %w", timeout, what, err)
		case <-time.After(time.Second):
		}
	}
}
