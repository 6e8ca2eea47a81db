package v1alpha1

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
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

func TestExport(t *testing.T) {
	created := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want Export
		err  bool
	}{
		{"ClusterSetIP, no affinity", "created=2026-12-03T06:00:00Z;type=ClusterSetIP;affinity=None", Export{Created: created, SessionAffinity: "None"}, false},
		{"headless, ClientIP with a timeout", "created=2026-12-03T06:00:00Z;type=Headless;affinity=ClientIP/600", Export{Created: created, Headless: true, SessionAffinity: "ClientIP", AffinityTimeout: 600}, false},
		{"fields in any order", "affinity=ClientIP;type=ClusterSetIP;created=2026-12-03T06:00:00Z", Export{Created: created, SessionAffinity: "ClientIP"}, false},
		{"a missing field", "created=2026-12-03T06:00:00Z;type=ClusterSetIP", Export{}, true},
		{"a repeated field", "created=2026-12-03T06:00:00Z;type=ClusterSetIP;type=Headless;affinity=None", Export{}, true},
		{"an unknown type", "created=2026-12-03T06:00:00Z;type=ExternalName;affinity=None", Export{}, true},
		{"a timeout without ClientIP", "created=2026-12-03T06:00:00Z;type=ClusterSetIP;affinity=None/10", Export{}, true},
		{"a timeout out of range", "created=2026-12-03T06:00:00Z;type=ClusterSetIP;affinity=ClientIP/86401", Export{}, true},
		{"not a time", "created=yesterday;type=ClusterSetIP;affinity=None", Export{}, true},
		{"empty", "", Export{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExport(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseExport(%q) error %v, want error: %v", tt.in, err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseExport(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if err == nil {
				if back, err := ParseExport(FormatExport(got)); err != nil || !reflect.DeepEqual(back, got) {
					t.Errorf("format then parse gives %+v, %v; want %+v", back, err, got)
				}
			}
		})
	}
}

// Whatever ParseExport accepts is within the API's bounds and formats back to itself.
func FuzzParseExport(f *testing.F) {
	f.Add("created=2026-12-03T06:00:00Z;type=ClusterSetIP;affinity=None")
	f.Add("created=2026-12-03T06:00:00Z;type=Headless;affinity=ClientIP/10800")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExport(s)
		if err != nil {
			return
		}
		if e.AffinityTimeout < 0 || e.AffinityTimeout > 86400 || (e.AffinityTimeout > 0 && e.SessionAffinity != corev1.ServiceAffinityClientIP) {
			t.Fatalf("out of bounds %+v from %q", e, s)
		}
		back, err := ParseExport(FormatExport(e))
		if err != nil || !back.Created.Equal(e.Created) || back.Headless != e.Headless || back.SessionAffinity != e.SessionAffinity || back.AffinityTimeout != e.AffinityTimeout {
			t.Fatalf("%+v from %q formats to one that parses as %+v, %v", e, s, back, err)
		}
	})
}

func TestGatewayPortName(t *testing.T) {
	long := strings.Repeat("p", 58) + "-xyz"
	tests := []struct{ name, want string }{
		{"http", "mgw-http"},
		{"", "mgw"},
		{long, "mgw-" + strings.Repeat("p", 58)}, // cut to 63, and the dash it then ends with
	}
	for _, tt := range tests {
		got := GatewayPortName(tt.name)
		if got != tt.want {
			t.Errorf("GatewayPortName(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("GatewayPortName(%q) = %q, not a port name: %v", tt.name, got, errs)
		}
	}
}
