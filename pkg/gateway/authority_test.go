package gateway

import (
	"strings"
	"testing"

	"github.com/meshfed/meshfed/pkg/trust"
)

func TestParseAuthority(t *testing.T) {
	for _, tt := range []struct {
		in, domain string
		want       Authority
		err        string
	}{
		{in: "web.shop.svc.cluster.local:80", want: Authority{"web", "shop", "cluster.local", 80}},
		{in: "a.b-2.svc.east.example:65535", domain: "east.example", want: Authority{"a", "b-2", "east.example", 65535}},
		{in: "9web.shop.svc.cluster.local:80", err: "not a Service name"},
		{in: "2ns.2ns.svc.cluster.local:80", err: "not a Service name"},
		{in: "web.-shop.svc.cluster.local:80", err: "not a namespace"},
		{in: "Web.shop.svc.cluster.local:80", err: "not a Service name"},
		{in: "web.shop.svc.cluster.local", err: "no port"},
		{in: "web.shop.svc.cluster.local:", err: "port"},
		{in: "web.shop.svc.cluster.local:0", err: "port"},
		{in: "web.shop.svc.cluster.local:080", err: "port"},
		{in: "web.shop.svc.cluster.local:+80", err: "port"},
		{in: "web.shop.svc.cluster.local:65536", err: "port"},
		{in: "web.shop.svc.cluster.local:80:80", err: "port"},
		{in: "web.shop.svc.cluster.local.:80", err: "not a Service of this cluster"},
		{in: "web.shop.svc.other.local:80", err: "not a Service of this cluster"},
		{in: "pod-0.web.shop.svc.cluster.local:80", err: "exactly <service>.<namespace>"},
		{in: "shop.svc.cluster.local:80", err: "exactly <service>.<namespace>"},
		{in: ".shop.svc.cluster.local:80", err: "not a Service name"},
		{in: "10.0.0.1:80", err: "not a Service of this cluster"},
		{in: "[::1]:80", err: "port"},
		{in: "user@web.shop.svc.cluster.local:80", err: "not a Service name"},
		{in: "", err: "no port"},
	} {
		got, err := ParseAuthority(tt.in, tt.domain)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParseAuthority(%q): %v", tt.in, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("ParseAuthority(%q) = %+v; want %+v", tt.in, got, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseAuthority(%q): %v; want an error saying %q", tt.in, err, tt.err)
		}
	}
}

// FuzzParseAuthority: nothing panics, and what is accepted is exactly what String gives back,
// of labels the cluster's DNS could answer.
func FuzzParseAuthority(f *testing.F) {
	for _, s := range []string{"web.shop.svc.cluster.local:80", "a.b.svc.cluster.local:1", "10.0.0.1:80", "[::1]:80", "web.shop.svc.cluster.local:080", "x..svc.cluster.local:9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthority(s, "")
		if err != nil {
			return
		}
		if a.String() != s {
			t.Fatalf("%q parsed as %+v, which is %q", s, a, a.String())
		}
		if !isDNS1035Label(a.Service) || !isDNS1123Label(a.Namespace) || a.Port == 0 {
			t.Fatalf("%q parsed as %+v", s, a)
		}
	})
}

func TestAllowList(t *testing.T) {
	a, err := ParseAllowList([]string{"west", "south=south.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		td, cluster string
		allowed     bool
	}{
		{"west.meshfed.local", "west", true},
		{"south.example.org", "south", true},
		{"south.meshfed.local", "south", false},
		{"north.meshfed.local", "north", false},
	} {
		id := trust.ID{TrustDomain: tt.td, Namespace: "ns", ServiceAccount: "sa"}
		if err := a.Allowed(id); (err == nil) != tt.allowed {
			t.Errorf("%s allowed: %v; want %v", tt.td, err, tt.allowed)
		} else if err != nil && !strings.Contains(err.Error(), "south.example.org, west.meshfed.local") {
			t.Errorf("%s: %v; want it to list what is allowed", tt.td, err)
		}
		if got := a.ClusterOf(id); got != tt.cluster {
			t.Errorf("ClusterOf(%s) = %q; want %q", tt.td, got, tt.cluster)
		}
	}
	for _, bad := range []string{"", "West", "west=", "west=not a domain", "a=x.example", "b=x.example"} {
		if _, err := ParseAllowList([]string{"a=x.example", bad}); err == nil && bad != "a=x.example" {
			t.Errorf("ParseAllowList accepted %q", bad)
		}
	}
}
