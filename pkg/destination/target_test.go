package destination

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestParseAuthority(t *testing.T) {
	web := func(port int32) target {
		return target{service: types.NamespacedName{Namespace: "shop", Name: "web"}, port: port}
	}
	tests := []struct {
		authority string
		want      target
		err       string
	}{
		{"web.shop.svc.cluster.local:80", web(80), ""},
		{"web.shop.svc.cluster.local.:80", web(80), ""},
		{"web.shop.svc:8080", web(8080), ""},
		{"web.shop:80", web(80), ""},
		{"WEB.Shop.svc.CLUSTER.local:80", web(80), ""},
		{"10.0.0.1:80", target{addr: netip.MustParseAddrPort("10.0.0.1:80")}, ""},
		{"[fd00::1]:443", target{addr: netip.MustParseAddrPort("[fd00::1]:443")}, ""},
		{"[::ffff:10.0.0.1]:80", target{addr: netip.MustParseAddrPort("10.0.0.1:80")}, ""},
		// Names, but of nothing here.
		{"example.com:443", target{service: types.NamespacedName{Namespace: "com", Name: "example"}, port: 443}, ""},
		{"api.example.com:443", target{}, ""},
		{"web:80", target{}, ""},
		{"web.shop.svc.clusterset.local:80", target{service: types.NamespacedName{Namespace: "shop", Name: "web-clusterset"}, port: 80}, ""},
		{"WEB.shop.svc.clusterset.local.:80", target{service: types.NamespacedName{Namespace: "shop", Name: "web-clusterset"}, port: 80}, ""},
		{strings.Repeat("a", 60) + ".shop.svc.clusterset.local:80", target{}, ""}, // no derived Service can have that name
		{"web-0.web.shop.svc.cluster.local:80", target{}, ""},
		{"1web.shop:80", target{}, ""}, // not a Service name: those start with a letter
		// Refused.
		{"web.shop.svc.cluster.local", target{}, "send the port too"},
		{"web.shop:http", target{}, `port "http"`},
		{"web.shop:65536", target{}, `port "65536"`},
		{"web.shop:0", target{}, `port "0"`},
		{"web_shop:80", target{}, "not a DNS name"},
		{":80", target{}, "not a DNS name"},
		{strings.Repeat("a", 300) + ":80", target{}, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.authority, func(t *testing.T) {
			got, err := parseAuthority(tt.authority, "cluster.local")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
