package local

import (
	"fmt"
	"net/netip"
	"regexp"

	"github.com/meshfed/meshfed/deploy"
)

// The addressing plan. Everything lives in 198.18.0.0/15 (RFC 2544 benchmarking space), so a
// packet that escapes goes nowhere real.
const (
	bridgeName   = "meshfed0"
	bridgePrefix = "198.18.0.1/24"
	vethPrefix   = "mf-"
	// maxClusters bounds the plan below: node and LoadBalancer addresses in 198.18.0.0/24,
	// pod ranges in 198.18.128.0/17, service ranges in 198.19.0.0/16 below 198.19.96.0, and
	// every cluster's ClusterSetIPs in clusterSetIPRange.
	maxClusters = 6
	// allPodRanges holds every cluster's pod range; in flat mode traffic to it keeps its
	// source address.
	allPodRanges = "198.18.128.0/17"
	apiPort      = 6443
	// clusterSetIPRange is the range of ClusterSetIPs `mesh multicluster install` makes by
	// default, the same in every cluster; the nodes route it as their service range.
	clusterSetIPRange = deploy.DefaultClusterSetIPRange
)

// clusterNameRE keeps names valid as DNS labels, kube contexts and interface names: the host
// end of a node's veth is "mf-<name>", and an interface name has at most 15 bytes.
var clusterNameRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$`)

// cluster is one cluster's place in the plan.
type cluster struct {
	Name  string
	Index int
	// NodeIP is the node's address on the bridge between clusters.
	NodeIP netip.Addr
	// PodCIDR and ServiceCIDR are the cluster's own ranges.
	PodCIDR, ServiceCIDR netip.Prefix
	// APIServiceIP is the kubernetes Service's address, DNSServiceIP kube-dns's.
	APIServiceIP, DNSServiceIP netip.Addr
	// LBPoolStart and LBPoolEnd bound the LoadBalancer addresses MetalLB hands out.
	LBPoolStart, LBPoolEnd netip.Addr
}

func newCluster(name string, index int) cluster {
	svc := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(16 * index), 0}), 20)
	return cluster{
		Name:         name,
		Index:        index,
		NodeIP:       netip.AddrFrom4([4]byte{198, 18, 0, byte(11 + index)}),
		PodCIDR:      netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(128 + 16*index), 0}), 20),
		ServiceCIDR:  svc,
		APIServiceIP: netip.AddrFrom4([4]byte{198, 19, byte(16 * index), 1}),
		DNSServiceIP: netip.AddrFrom4([4]byte{198, 19, byte(16 * index), 10}),
		LBPoolStart:  netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + 20*index)}),
		LBPoolEnd:    netip.AddrFrom4([4]byte{198, 18, 0, byte(119 + 20*index)}),
	}
}

func (c cluster) veth() string { return vethPrefix + c.Name }

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
