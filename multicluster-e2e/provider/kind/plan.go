package kind

import (
	"fmt"
	"net/netip"
	"regexp"
)

const (
	// ClusterPrefix begins the kind name of every cluster this provider makes, so that Down
	// can tell them from a user's own kind clusters and never deletes one of those.
	ClusterPrefix = "meshfed-"
	// dockerNetwork is the network kind puts every node on. All clusters share it, which is
	// what makes node and LoadBalancer addresses of one reachable from the others.
	dockerNetwork = "kind"
	// maxClusters bounds the plan: the same pod and service ranges as the local provider.
	maxClusters = 6
	apiPort     = 6443
)

// clusterNameRE is the local provider's rule, so a name valid for one is valid for the other.
var clusterNameRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$`)

// cluster is one cluster's place in the plan. The pod and service ranges are the local
// provider's: the suite's expectations about addresses hold under either provider, and
// 198.18.0.0/15 is benchmarking space no user network routes.
type cluster struct {
	Name  string
	Index int
	// PodCIDR and ServiceCIDR are the cluster's own ranges; they never overlap another's, so
	// flat mode can route between them.
	PodCIDR, ServiceCIDR netip.Prefix
	// DNSServiceIP is kube-dns's address: the tenth of the service range, which is where
	// kubeadm points kubelet's clusterDNS.
	DNSServiceIP netip.Addr
}

func newCluster(name string, index int) cluster {
	return cluster{
		Name:         name,
		Index:        index,
		PodCIDR:      netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(128 + 16*index), 0}), 20),
		ServiceCIDR:  netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(16 * index), 0}), 20),
		DNSServiceIP: netip.AddrFrom4([4]byte{198, 19, byte(16 * index), 10}),
	}
}

// kindName is the cluster's name to kind.
func (c cluster) kindName() string { return ClusterPrefix + c.Name }

// node is the name of the cluster's one node: its container and its Kubernetes Node.
func (c cluster) node() string { return NodeName(c.Name) }

// NodeName returns the name kind gives the one node of a cluster: the name of its container
// and of its Kubernetes Node. kind derives it from the cluster's name and it cannot be set.
func NodeName(cluster string) string { return ClusterPrefix + cluster + "-control-plane" }

// plan checks the names and places each cluster.
func plan(names []string) ([]cluster, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no clusters named: give at least one, as in --clusters west,east")
	}
	if len(names) > maxClusters {
		return nil, fmt.Errorf("%d clusters asked for, at most %d fit the address plan: name fewer", len(names), maxClusters)
	}
	seen := map[string]bool{}
	var out []cluster
	for i, n := range names {
		if !clusterNameRE.MatchString(n) {
			return nil, fmt.Errorf("cluster name %q is not valid: use 1-12 lowercase letters, digits or '-', starting with a letter, as in \"west\"", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("cluster name %q is given twice: name each cluster once", n)
		}
		seen[n] = true
		out = append(out, newCluster(n, i))
	}
	return out, nil
}
