package local

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// The network between clusters: one host bridge, a veth per node into it. The host keeps the
// bridge's address so tests and kubectl on the host reach every apiserver at its node address.

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func createBridge() error {
	if err := ipCmd("link", "add", bridgeName, "type", "bridge"); err != nil {
		return err
	}
	if err := ipCmd("addr", "add", bridgePrefix, "dev", bridgeName); err != nil {
		return err
	}
	return ipCmd("link", "set", bridgeName, "up")
}

// plugNode gives the node whose init is pid its eth0, the other end on the bridge.
func plugNode(c cluster, pid int) error {
	if err := ipCmd("link", "add", c.veth(), "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(pid)); err != nil {
		return err
	}
	if err := ipCmd("link", "set", c.veth(), "master", bridgeName); err != nil {
		return err
	}
	return ipCmd("link", "set", c.veth(), "up")
}

// ourLinks lists the bridge and node veths present on the host.
func ourLinks() ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, i := range ifaces {
		if i.Name == bridgeName || strings.HasPrefix(i.Name, vethPrefix) {
			out = append(out, i.Name)
		}
	}
	return out, nil
}

// busyAddress reports an interface that is not ours holding an address of the plan's range:
// the run would then route where it must not.
func busyAddress(addresses func() (map[string][]netip.Prefix, error)) error {
	plan := netip.MustParsePrefix("198.18.0.0/15")
	byIface, err := addresses()
	if err != nil {
		return err
	}
	for name, prefixes := range byIface {
		if name == bridgeName || strings.HasPrefix(name, vethPrefix) {
			continue
		}
		for _, p := range prefixes {
			if plan.Overlaps(p) {
				return fmt.Errorf("address %s on interface %s overlaps 198.18.0.0/15, which the local clusters use: remove it (ip addr del %s dev %s) or run on another machine", p, name, p, name)
			}
		}
	}
	return nil
}

// hostAddresses lists the host's interfaces and their addresses.
func hostAddresses() (map[string][]netip.Prefix, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Prefix{}
	for _, i := range ifaces {
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out[i.Name] = append(out[i.Name], p)
			}
		}
	}
	return out, nil
}
