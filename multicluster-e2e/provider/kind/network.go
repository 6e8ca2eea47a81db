package kind

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// network is what the provider needs of the docker network its nodes share.
type network struct {
	// Subnet is the network's IPv4 range. kind makes the network dual-stack; the IPv6 range
	// is of no use here, as the clusters are IPv4.
	Subnet netip.Prefix
	// Nodes holds the IPv4 address of each container on the network, by container name.
	Nodes map[string]netip.Addr
}

// parseNetwork reads the output of `docker network inspect <name>`.
func parseNetwork(data []byte) (network, error) {
	var nets []struct {
		Name string
		IPAM struct {
			Config []struct{ Subnet string }
		}
		Containers map[string]struct {
			Name        string
			IPv4Address string
		}
	}
	if err := json.Unmarshal(data, &nets); err != nil {
		return network{}, fmt.Errorf("reading docker network inspect: %w", err)
	}
	if len(nets) != 1 {
		return network{}, fmt.Errorf("docker network inspect printed %d networks, want 1", len(nets))
	}
	n := nets[0]
	out := network{Nodes: map[string]netip.Addr{}}
	for _, c := range n.IPAM.Config {
		p, err := netip.ParsePrefix(c.Subnet)
		if err != nil {
			return network{}, fmt.Errorf("docker network %s: subnet %q: %w", n.Name, c.Subnet, err)
		}
		if p.Addr().Is4() {
			out.Subnet = p.Masked()
			break
		}
	}
	if !out.Subnet.IsValid() {
		return network{}, fmt.Errorf("docker network %s has no IPv4 subnet: delete it (docker network rm %s) and kind makes it again with one", n.Name, n.Name)
	}
	for _, c := range n.Containers {
		if c.IPv4Address == "" {
			continue
		}
		p, err := netip.ParsePrefix(c.IPv4Address)
		if err != nil {
			return network{}, fmt.Errorf("docker network %s: address %q of %s: %w", n.Name, c.IPv4Address, c.Name, err)
		}
		out.Nodes[c.Name] = p.Addr()
	}
	return out, nil
}

// pool is a range of LoadBalancer addresses, both ends included.
type pool struct{ Start, End netip.Addr }

func (p pool) contains(a netip.Addr) bool { return p.Start.Compare(a) <= 0 && a.Compare(p.End) <= 0 }

// lbPools gives each of n clusters twenty LoadBalancer addresses on the docker network, from
// .100 of its last /24 up, as the local provider does on its bridge. Docker hands containers
// addresses from the bottom of the range, so the top /24 stays free unless the network is
// small and crowded: a pool that holds a container's address is refused.
func lbPools(net network, n int) ([]pool, error) {
	s := net.Subnet
	if !s.Addr().Is4() || s.Bits() > 24 {
		return nil, fmt.Errorf("docker network %s has range %s: MetalLB's pools need an IPv4 range of /24 or larger; recreate it (docker network rm %s; kind makes it again)", dockerNetwork, s, dockerNetwork)
	}
	if n > maxClusters {
		return nil, fmt.Errorf("%d clusters, at most %d fit", n, maxClusters)
	}
	last := lastAddr(s).As4()
	var pools []pool
	for i := range n {
		start, end := last, last
		start[3], end[3] = byte(100+20*i), byte(119+20*i)
		p := pool{netip.AddrFrom4(start), netip.AddrFrom4(end)}
		for name, a := range net.Nodes {
			if p.contains(a) {
				return nil, fmt.Errorf("container %s has address %s, inside the LoadBalancer pool %s-%s: remove containers from docker network %s or recreate it larger", name, a, p.Start, p.End, dockerNetwork)
			}
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// nodeRoutes returns, for each node container, the arguments of `ip` that route the other
// clusters' pod ranges. In flat mode each goes via the node that owns it. Otherwise each is a
// throw route: the node then has no route for it, as a local node has none, and a pod's
// packet to another cluster's pod is refused with "network is unreachable" instead of
// leaving by docker's default route to be lost beyond this machine.
func nodeRoutes(clusters []cluster, nodes map[string]netip.Addr, flat bool) (map[string][][]string, error) {
	out := map[string][][]string{}
	for _, c := range clusters {
		if _, ok := nodes[c.node()]; !ok {
			return nil, fmt.Errorf("node %s is not on docker network %s", c.node(), dockerNetwork)
		}
	}
	for _, c := range clusters {
		var routes [][]string
		for _, o := range clusters {
			if o.Name == c.Name {
				continue
			}
			if flat {
				routes = append(routes, []string{"route", "replace", o.PodCIDR.String(), "via", nodes[o.node()].String()})
			} else {
				routes = append(routes, []string{"route", "replace", "throw", o.PodCIDR.String()})
			}
		}
		out[c.node()] = routes
	}
	return out, nil
}

// ourClusters picks the clusters this provider made out of `kind get clusters`, by their
// bare names, sorted.
func ourClusters(kindClusters []string) []string {
	var out []string
	for _, n := range kindClusters {
		if rest, ok := strings.CutPrefix(n, ClusterPrefix); ok && rest != "" {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out
}
