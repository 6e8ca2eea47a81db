package kind

import (
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
		{names: []string{"meshfed_west"}, wantErr: "not valid"},
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
	cs, err := plan([]string{"a", "b", "c", "d", "e", "f"})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		if !c.ServiceCIDR.Contains(c.DNSServiceIP) {
			t.Errorf("%s: DNS %s outside %s", c.Name, c.DNSServiceIP, c.ServiceCIDR)
		}
		if c.PodCIDR.Overlaps(c.ServiceCIDR) {
			t.Errorf("%s: pod range %s overlaps service range %s", c.Name, c.PodCIDR, c.ServiceCIDR)
		}
		for _, o := range cs[i+1:] {
			if c.PodCIDR.Overlaps(o.PodCIDR) || c.ServiceCIDR.Overlaps(o.ServiceCIDR) || c.PodCIDR.Overlaps(o.ServiceCIDR) {
				t.Errorf("%s and %s overlap: %s %s, %s %s", c.Name, o.Name, c.PodCIDR, c.ServiceCIDR, o.PodCIDR, o.ServiceCIDR)
			}
		}
	}
	if got, want := cs[0].node(), "meshfed-a-control-plane"; got != want {
		t.Errorf("node name %q, want %q", got, want)
	}
}
