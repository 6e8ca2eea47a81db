package kind

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParseNetwork(t *testing.T) {
	net, err := parseNetwork(readTestdata(t, "network-inspect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParsePrefix("172.18.0.0/16"); net.Subnet != want {
		t.Errorf("subnet %s, want %s (the IPv4 one, not the IPv6 listed first)", net.Subnet, want)
	}
	want := map[string]string{
		"meshfed-west-control-plane":  "172.18.0.2",
		"meshfed-east-control-plane":  "172.18.0.3",
		"someone-elses-control-plane": "172.18.0.4",
	}
	if len(net.Nodes) != len(want) {
		t.Errorf("nodes %v, want %v", net.Nodes, want)
	}
	for name, addr := range want {
		if got := net.Nodes[name]; got.String() != addr {
			t.Errorf("node %s at %s, want %s", name, got, addr)
		}
	}
}

func TestParseNetworkErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{`, "reading docker network inspect"},
		{`[]`, "printed 0 networks"},
		{`[{"Name":"kind","IPAM":{"Config":[{"Subnet":"fc00::/64"}]}}]`, "no IPv4 subnet"},
		{`[{"Name":"kind","IPAM":{"Config":[{"Subnet":"nonsense"}]}}]`, `subnet "nonsense"`},
		{`[{"Name":"kind","IPAM":{"Config":[{"Subnet":"172.18.0.0/16"}]},"Containers":{"x":{"Name":"n","IPv4Address":"bad"}}}]`, `address "bad" of n`},
	}
	for _, tt := range tests {
		if _, err := parseNetwork([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseNetwork(%s): %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestLBPools(t *testing.T) {
	tests := []struct {
		subnet  string
		nodes   map[string]string
		n       int
		want    string
		wantErr string
	}{
		{subnet: "172.18.0.0/16", n: 2, want: "172.18.255.100-172.18.255.119 172.18.255.120-172.18.255.139"},
		{subnet: "172.18.0.0/16", n: 6, want: "172.18.255.100-172.18.255.119 172.18.255.120-172.18.255.139 172.18.255.140-172.18.255.159 172.18.255.160-172.18.255.179 172.18.255.180-172.18.255.199 172.18.255.200-172.18.255.219"},
		{subnet: "10.89.0.0/24", n: 1, nodes: map[string]string{"a": "10.89.0.2"}, want: "10.89.0.100-10.89.0.119"},
		{subnet: "192.168.64.0/20", n: 1, want: "192.168.79.100-192.168.79.119"},
		{subnet: "10.89.0.0/24", n: 2, nodes: map[string]string{"crowded": "10.89.0.125"}, wantErr: "container crowded has address 10.89.0.125, inside the LoadBalancer pool 10.89.0.120-10.89.0.139"},
		{subnet: "10.89.0.0/25", n: 1, wantErr: "/24 or larger"},
		{subnet: "fc00::/64", n: 1, wantErr: "IPv4 range"},
		{subnet: "172.18.0.0/16", n: 7, wantErr: "at most 6"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.subnet, tt.n), func(t *testing.T) {
			net := network{Subnet: netip.MustParsePrefix(tt.subnet), Nodes: map[string]netip.Addr{}}
			for n, a := range tt.nodes {
				net.Nodes[n] = netip.MustParseAddr(a)
			}
			pools, err := lbPools(net, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pools {
				got = append(got, p.Start.String()+"-"+p.End.String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("pools %s, want %s", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func TestNodeRoutes(t *testing.T) {
	cs, err := plan([]string{"west", "east", "north"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]netip.Addr{
		"meshfed-west-control-plane":  netip.MustParseAddr("172.18.0.2"),
		"meshfed-east-control-plane":  netip.MustParseAddr("172.18.0.3"),
		"meshfed-north-control-plane": netip.MustParseAddr("172.18.0.4"),
	}
	tests := []struct {
		flat bool
		want map[string]string
	}{
		{flat: false, want: map[string]string{
			"meshfed-west-control-plane":  "route replace throw 198.18.144.0/20; route replace throw 198.18.160.0/20",
			"meshfed-east-control-plane":  "route replace throw 198.18.128.0/20; route replace throw 198.18.160.0/20",
			"meshfed-north-control-plane": "route replace throw 198.18.128.0/20; route replace throw 198.18.144.0/20",
		}},
		{flat: true, want: map[string]string{
			"meshfed-west-control-plane":  "route replace 198.18.144.0/20 via 172.18.0.3; route replace 198.18.160.0/20 via 172.18.0.4",
			"meshfed-east-control-plane":  "route replace 198.18.128.0/20 via 172.18.0.2; route replace 198.18.160.0/20 via 172.18.0.4",
			"meshfed-north-control-plane": "route replace 198.18.128.0/20 via 172.18.0.2; route replace 198.18.144.0/20 via 172.18.0.3",
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("flat=%v", tt.flat), func(t *testing.T) {
			got, err := nodeRoutes(cs, nodes, tt.flat)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("routes for %d nodes, want %d", len(got), len(tt.want))
			}
			for node, want := range tt.want {
				var lines []string
				for _, r := range got[node] {
					lines = append(lines, strings.Join(r, " "))
				}
				if g := strings.Join(lines, "; "); g != want {
					t.Errorf("%s: %s, want %s", node, g, want)
				}
			}
		})
	}

	delete(nodes, "meshfed-east-control-plane")
	if _, err := nodeRoutes(cs, nodes, true); err == nil || !strings.Contains(err.Error(), "meshfed-east-control-plane is not on docker network kind") {
		t.Errorf("a node missing from the network: %v, want it named", err)
	}
}

func TestOurClusters(t *testing.T) {
	got := ourClusters([]string{"kind", "meshfed-west", "meshfed-", "my-meshfed-east", "meshfed-east", "dev"})
	if strings.Join(got, ",") != "east,west" {
		t.Errorf("ourClusters = %v, want [east west]: only names with the prefix, bare", got)
	}
}
