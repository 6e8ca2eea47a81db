package v1alpha1

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRemotePorts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []corev1.ServicePort
	}{
		{"two ports", "http=80/TCP,grpc=9090/TCP", []corev1.ServicePort{{Name: "http", Port: 80, Protocol: "TCP"}, {Name: "grpc", Port: 9090, Protocol: "TCP"}}},
		{"an unnamed port, no protocol", "=80", []corev1.ServicePort{{Port: 80, Protocol: "TCP"}}},
		{"garbage is skipped", "x,http=99999/TCP,a=b/TCP,ok=1/UDP", []corev1.ServicePort{{Name: "ok", Port: 1, Protocol: "UDP"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseRemotePorts(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseRemotePorts(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if back := ParseRemotePorts(FormatRemotePorts(got)); !reflect.DeepEqual(back, got) {
				t.Errorf("format then parse gives %v, want %v", back, got)
			}
		})
	}
}

func FuzzParseRemotePorts(f *testing.F) {
	f.Add("http=80/TCP,grpc=9090/TCP")
	f.Add("=80")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range ParseRemotePorts(s) {
			if p.Port < 1 || p.Port > 65535 {
				t.Fatalf("port %d out of range from %q", p.Port, s)
			}
		}
	})
}

func TestEndpointIdentities(t *testing.T) {
	in := map[string]string{"198.18.144.5": "spiffe://east.meshfed.local/ns/shop/sa/web", "198.18.144.4": "spiffe://east.meshfed.local/ns/shop/sa/api"}
	s := FormatEndpointIdentities(in)
	if want := "198.18.144.4=spiffe://east.meshfed.local/ns/shop/sa/api,198.18.144.5=spiffe://east.meshfed.local/ns/shop/sa/web"; s != want {
		t.Errorf("formatted %q, want %q", s, want)
	}
	if got := ParseEndpointIdentities(s); !reflect.DeepEqual(got, in) {
		t.Errorf("parsed %v, want %v", got, in)
	}
	bad := "x=spiffe://a/b,198.18.0.1=https://evil,198.18.0.2,198.18.0.3=spiffe://east/ns/a/sa/b"
	if got, want := ParseEndpointIdentities(bad), map[string]string{"198.18.0.3": "spiffe://east/ns/a/sa/b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %v from %q, want %v", got, bad, want)
	}
}

func FuzzParseEndpointIdentities(f *testing.F) {
	f.Add("198.18.144.4=spiffe://east.meshfed.local/ns/shop/sa/api")
	f.Fuzz(func(t *testing.T, s string) {
		for addr, id := range ParseEndpointIdentities(s) {
			if _, err := netip.ParseAddr(addr); err != nil || !strings.HasPrefix(id, "spiffe://") {
				t.Fatalf("kept %q=%q from %q", addr, id, s)
			}
		}
	})
}
