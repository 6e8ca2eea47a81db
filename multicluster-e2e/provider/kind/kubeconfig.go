package kind

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterKubeconfig is what `kind get kubeconfig` printed for one cluster.
type clusterKubeconfig struct {
	// Name is the cluster's bare name, such as "west": the name its context gets.
	Name string
	// Kind is kind's kubeconfig, whose current context is the cluster's ("kind-meshfed-west").
	Kind []byte
	// Server replaces the API server's URL when not empty. kind's URL is a port forwarded on
	// this machine's loopback, which no other cluster can reach; the node's address on the
	// kind network serves everyone on Linux, where containers' addresses are routed.
	Server string
}

// mergeKubeconfigs returns one kubeconfig with a context, cluster and user per cluster, each
// named as the bare cluster, so that `--context west` means the same under either provider.
// The first cluster's context is current.
func mergeKubeconfigs(in []clusterKubeconfig) ([]byte, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("no kubeconfig to merge")
	}
	merged := clientcmdapi.NewConfig()
	for _, c := range in {
		cfg, err := clientcmd.Load(c.Kind)
		if err != nil {
			return nil, fmt.Errorf("kind's kubeconfig of %s: %w", c.Name, err)
		}
		ctx, ok := cfg.Contexts[cfg.CurrentContext]
		if !ok {
			return nil, fmt.Errorf("kind's kubeconfig of %s has no current context (%q)", c.Name, cfg.CurrentContext)
		}
		cl, ok := cfg.Clusters[ctx.Cluster]
		if !ok {
			return nil, fmt.Errorf("kind's kubeconfig of %s: context %s names no cluster %q", c.Name, cfg.CurrentContext, ctx.Cluster)
		}
		user, ok := cfg.AuthInfos[ctx.AuthInfo]
		if !ok {
			return nil, fmt.Errorf("kind's kubeconfig of %s: context %s names no user %q", c.Name, cfg.CurrentContext, ctx.AuthInfo)
		}
		if _, dup := merged.Contexts[c.Name]; dup {
			return nil, fmt.Errorf("cluster %s is given twice", c.Name)
		}
		cl = cl.DeepCopy()
		if c.Server != "" {
			cl.Server = c.Server
		}
		merged.Clusters[c.Name] = cl
		merged.AuthInfos[c.Name] = user.DeepCopy()
		merged.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	}
	merged.CurrentContext = in[0].Name
	return clientcmd.Write(*merged)
}
