package clusterscmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/kind"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
)

// Run runs the command with args, writing to stdout and stderr; it prints its own errors.
func Run(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := NewCommand(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "ERROR:", err)
	}
	return err
}

type options struct {
	root         string
	providerName string
	stdout       io.Writer
	stderr       io.Writer
	// rootSet tells a --root the user gave from the local default, which means nothing to kind.
	rootSet func() bool
}

// clusterProvider is a provider with what the commands need beyond provider.Provider.
type clusterProvider struct {
	provider.Provider
	// clusters lists the clusters that are up.
	clusters func(context.Context) ([]string, error)
	// setRetain keeps what a failed up made; setNodeImage is kind's node image.
	setRetain    func(bool)
	setNodeImage func(string)
}

func (o *options) provider() (*clusterProvider, error) {
	b, err := build.NewFromWorkingDir(o.stderr)
	if err != nil {
		return nil, err
	}
	switch o.providerName {
	case "local":
		p := local.New(o.root, b, o.stderr)
		return &clusterProvider{
			Provider:     p,
			clusters:     func(context.Context) ([]string, error) { return p.Clusters() },
			setRetain:    func(r bool) { p.Retain = r },
			setNodeImage: func(string) {},
		}, nil
	case "kind":
		var dir string
		if o.rootSet() {
			dir = o.root
		}
		p := kind.New(dir, b, o.stderr)
		return &clusterProvider{
			Provider:     p,
			clusters:     p.Clusters,
			setRetain:    func(r bool) { p.Retain = r },
			setNodeImage: func(image string) { p.NodeImage = image },
		}, nil
	}
	return nil, fmt.Errorf("unknown provider %q: use local (Linux namespaces, no Docker) or kind (needs Docker and kind)", o.providerName)
}

// NewCommand returns the root command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &options{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "clusters",
		Short: "Run local Kubernetes clusters made of Linux namespaces, with no Docker",
		Long: `clusters runs Kubernetes clusters on this machine from real parts: each cluster is one
node, and the node is a set of Linux namespaces running etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, containerd, kubelet and kube-proxy. CoreDNS,
cert-manager and MetalLB run in every cluster as pods. Nodes meet on one bridge; every
address is in 198.18.0.0/15 and nothing inside reaches beyond the run.

It needs root and the packages hack/install-deps.sh installs. Kubernetes and the add-ons
are built from the Go module proxy the first time (minutes) and cached in .cache/.

With --provider kind the clusters are kind clusters (named meshfed-<name>) on the docker
network "kind" instead, with the same add-ons and images: that needs Docker on Linux and
kind, not root. Give --provider kind to every command of such a run.`,
		Example: `  # Two clusters, then talk to them
  clusters up --clusters west,east
  export KUBECONFIG=$(clusters kubeconfig)
  kubectl --context west get nodes

  # Pods may reach pods of the other cluster directly
  clusters up --clusters west,east --flat

  # Remove everything the run made
  clusters down

  # The same on kind, for people who have Docker (no root needed)
  clusters up --provider kind --clusters west,east
  clusters down --provider kind`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.PersistentFlags().StringVar(&o.root, "root", local.DefaultRoot, "folder holding the run: each node's files, logs and the kubeconfig (with --provider kind: the kubeconfig and kind configs, default .cache/kind)")
	cmd.PersistentFlags().StringVar(&o.providerName, "provider", "local", "what runs the clusters: local (Linux namespaces, root, no Docker) or kind (Docker and kind)")
	o.rootSet = func() bool { return cmd.PersistentFlags().Changed("root") }
	cmd.AddCommand(newUpCommand(o), newDownCommand(o), newKubeconfigCommand(o), newLoadCommand(o), newToolsCommand(o))
	return cmd
}

func newUpCommand(o *options) *cobra.Command {
	var names string
	var opts provider.Options
	var retain bool
	var nodeImage string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring clusters up, one node each, and wait until they serve",
		Long: `up starts one node per cluster and returns once every node is Ready and CoreDNS,
cert-manager and MetalLB serve. A failure on the way removes all it made (unless --retain).
It refuses to start while clusters are up: run 'clusters down' first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Clusters = splitNames(names)
			p, err := o.provider()
			if err != nil {
				return err
			}
			p.setRetain(retain)
			p.setNodeImage(nodeImage)
			return p.Up(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&names, "clusters", "west,east", "comma-separated cluster names")
	cmd.Flags().BoolVar(&opts.Flat, "flat", false, "route every cluster's pod range from every node, so pods reach pods across clusters")
	cmd.Flags().BoolVar(&retain, "retain", false, "keep what a failed up made, to read its logs under --root (kind: the clusters, for kind export logs)")
	cmd.Flags().StringVar(&nodeImage, "kind-node-image", kind.DefaultNodeImage, "with --provider kind, the kindest/node image of every node")
	return cmd
}

func splitNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func newDownCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove every process, network link, cgroup, mount and file of the run",
		Long:  `down removes everything the clusters made, also what a crashed run left. Nothing up is not an error.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.provider()
			if err != nil {
				return err
			}
			return p.Down(cmd.Context())
		},
	}
}

func newKubeconfigCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the path of the kubeconfig with one context per cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.provider()
			if err != nil {
				return err
			}
			up, err := p.clusters(cmd.Context())
			if err != nil {
				return err
			}
			if len(up) == 0 {
				return fmt.Errorf("no cluster is up: run 'clusters up --provider %s' first", o.providerName)
			}
			fmt.Fprintln(o.stdout, p.Kubeconfig())
			return nil
		},
	}
}

func newLoadCommand(o *options) *cobra.Command {
	var names string
	cmd := &cobra.Command{
		Use:   "load IMAGE.tar",
		Short: "Import an image tarball (docker-archive or OCI) into the nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.provider()
			if err != nil {
				return err
			}
			return p.Load(cmd.Context(), args[0], splitNames(names)...)
		},
	}
	cmd.Flags().StringVar(&names, "clusters", "", "comma-separated clusters to load into (default: all that are up)")
	return cmd
}

func newToolsCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "tools [NAME...]",
		Short: "Build the tools the clusters and tests run (Kubernetes, cert-manager, MetalLB, helm, Prometheus)",
		Long: `tools builds each tool from its module under hack/tools, unless a build of the same
inputs is cached, and prints the folder of its binaries. With no name it builds them all.

The first build takes minutes; doing it once before the tests keeps each test package
from spending its own time limit waiting for it.`,
		Example: `  # Everything, before 'go test ./...'
  clusters tools

  # Only the Kubernetes binaries (kube-apiserver for envtest, kubelet, ...)
  clusters tools kubernetes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			tools := build.Tools()
			if len(args) > 0 {
				tools = nil
				for _, name := range args {
					t, ok := build.ToolByName(name)
					if !ok {
						return fmt.Errorf("unknown tool %q: the tools are %s", name, strings.Join(toolNames(), ", "))
					}
					tools = append(tools, t)
				}
			}
			b, err := build.NewFromWorkingDir(o.stderr)
			if err != nil {
				return err
			}
			for _, t := range tools {
				dir, err := b.Tool(cmd.Context(), t)
				if err != nil {
					return err
				}
				fmt.Fprintf(o.stdout, "%s\t%s\n", t.Name, dir)
			}
			return nil
		},
	}
}

func toolNames() []string {
	var names []string
	for _, t := range build.Tools() {
		names = append(names, t.Name)
	}
	return names
}
