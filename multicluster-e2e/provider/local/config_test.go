package local

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		names   []string
		wantErr string
	}{
		{names: []string{"west", "east"}},
		{names: []string{"a", "b1", "c-2", "abcdefghijkl"}},
		{names: nil, wantErr: "no clusters named"},
		{names: []string{"west", "west"}, wantErr: `"west" is given twice`},
		{names: []string{"West"}, wantErr: "not valid"},
		{names: []string{"1west"}, wantErr: "not valid"},
		{names: []string{"west-"}, wantErr: "not valid"},
		{names: []string{"abcdefghijklm"}, wantErr: "not valid"},
		{names: []string{"a", "b", "c", "d", "e", "f", "g"}, wantErr: "at most 6"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			_, err := plan(tt.names)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlanKeepsClustersApart(t *testing.T) {
	var names []string
	for i := 0; i < maxClusters; i++ {
		names = append(names, string(rune('a'+i)))
	}
	cs, err := plan(names)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, c := range cs {
		for _, p := range []string{c.PodCIDR.String(), c.ServiceCIDR.String(), c.NodeIP.String(), c.LBPoolStart.String(), c.LBPoolEnd.String()} {
			if other, ok := seen[p]; ok {
				t.Errorf("%s used by %s and %s", p, other, c.Name)
			}
			seen[p] = c.Name
		}
		if !c.ServiceCIDR.Contains(c.DNSServiceIP) || !c.ServiceCIDR.Contains(c.APIServiceIP) {
			t.Errorf("%s: DNS %s or API %s outside %s", c.Name, c.DNSServiceIP, c.APIServiceIP, c.ServiceCIDR)
		}
		csr := netip.MustParsePrefix(clusterSetIPRange)
		if csr.Overlaps(c.PodCIDR) || csr.Overlaps(c.ServiceCIDR) || csr.Contains(c.NodeIP) || csr.Contains(c.LBPoolStart) || csr.Contains(c.LBPoolEnd) {
			t.Errorf("%s: the ClusterSetIP range %s overlaps its pod %s or service %s range, or its node or LoadBalancer addresses", c.Name, csr, c.PodCIDR, c.ServiceCIDR)
		}
		if c.NodeIP.As4()[3] >= c.LBPoolStart.As4()[3] && c.NodeIP.As4()[3] <= cs[len(cs)-1].LBPoolEnd.As4()[3] {
			t.Errorf("%s: node address %s inside the LoadBalancer pools", c.Name, c.NodeIP)
		}
	}
}
