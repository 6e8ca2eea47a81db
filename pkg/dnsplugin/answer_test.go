package dnsplugin

import (
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// store is a Store of fixtures.
type store struct {
	imports map[string]*mcsv1alpha1.ServiceImport
	slices  map[string][]*discoveryv1.EndpointSlice
}

func (s store) ServiceImport(ns, name string) (*mcsv1alpha1.ServiceImport, bool) {
	si, ok := s.imports[ns+"/"+name]
	return si, ok
}

func (s store) Slices(ns, name string) []*discoveryv1.EndpointSlice { return s.slices[ns+"/"+name] }

func serviceImport(typ mcsv1alpha1.ServiceImportType, ips ...string) *mcsv1alpha1.ServiceImport {
	return &mcsv1alpha1.ServiceImport{Spec: mcsv1alpha1.ServiceImportSpec{
		Type: typ, IPs: ips,
		Ports: []mcsv1alpha1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}, {Name: "dns", Protocol: "UDP", Port: 53}},
	}}
}

// memberSlice is a slice of cluster's member: its pods (mode local), or its gateway.
func memberSlice(cluster, mode string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{mcsv1alpha1.LabelSourceCluster: cluster, mcv1alpha1.LabelMirrorMode: mode}},
		Endpoints:  eps,
	}
	if mode == mcv1alpha1.MirrorModeFederated {
		s.Annotations = map[string]string{mcv1alpha1.AnnotationRemoteSvcFQName: "db.shop.svc.cluster.local"}
	}
	return s
}

func ep(addr, hostname string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
	if hostname != "" {
		e.Hostname = ptr.To(hostname)
	}
	return e
}

func recordString(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.A:
		return "A " + r.A.String()
	case *dns.AAAA:
		return "AAAA " + r.AAAA.String()
	case *dns.SRV:
		return "SRV " + strconv.Itoa(int(r.Port)) + " " + r.Target
	}
	return rr.String()
}

func TestAnswer(t *testing.T) {
	s := store{
		imports: map[string]*mcsv1alpha1.ServiceImport{
			"shop/web": serviceImport(mcsv1alpha1.ClusterSetIP, "198.19.240.10", "fd00::10"),
			"shop/db":  serviceImport(mcsv1alpha1.Headless),
		},
		slices: map[string][]*discoveryv1.EndpointSlice{
			"shop/db": {
				memberSlice("west", mcv1alpha1.MirrorModeLocal, ep("198.18.128.5", "db-0", true), ep("198.18.128.6", "db-1", false), ep("198.18.128.7", "", true)),
				memberSlice("east", mcv1alpha1.MirrorModeFederated, ep("198.18.0.200", "", true)),
				memberSlice("north", "remote-discovery", ep("198.18.160.9", "db-0", true)),
				// South's pods behind its gateway, at their per-pod mirrors' cluster IPs.
				memberSlice("south", mcv1alpha1.MirrorModePodMirrors, ep("198.19.0.21", "db-0", true), ep("198.19.0.22", "db-1", false)),
			},
		},
	}
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  string
	}{
		{"web.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess, "A 198.19.240.10"},
		{"WEB.Shop.svc.clusterset.local", dns.TypeAAAA, dns.RcodeSuccess, "AAAA fd00::10"},
		{"web.shop.svc.clusterset.local.", dns.TypeSRV, dns.RcodeSuccess, "SRV 80 web.shop.svc.clusterset.local.; SRV 53 web.shop.svc.clusterset.local."},
		{"_http._tcp.web.shop.svc.clusterset.local.", dns.TypeSRV, dns.RcodeSuccess, "SRV 80 web.shop.svc.clusterset.local."},
		{"_dns._udp.web.shop.svc.clusterset.local.", dns.TypeSRV, dns.RcodeSuccess, "SRV 53 web.shop.svc.clusterset.local."},
		{"_http._udp.web.shop.svc.clusterset.local.", dns.TypeSRV, dns.RcodeNameError, ""},
		{"web.shop.svc.clusterset.local.", dns.TypeTXT, dns.RcodeSuccess, ""}, // NODATA
		// Headless: every ready pod reached directly or at its per-pod mirror, never a gateway.
		{"db.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess, "A 198.18.128.5; A 198.18.128.7; A 198.18.160.9; A 198.19.0.21"},
		{"db-0.south.db.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess, "A 198.19.0.21"},
		{"db-1.south.db.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, ""}, // not ready
		{"db-0.west.db.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess, "A 198.18.128.5"},
		{"db-0.north.db.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess, "A 198.18.160.9"},
		{"db-1.west.db.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, ""}, // not ready
		{"_http._tcp.db.shop.svc.clusterset.local.", dns.TypeSRV, dns.RcodeSuccess, "SRV 80 db-0.west.db.shop.svc.clusterset.local.; SRV 80 db-0.north.db.shop.svc.clusterset.local.; SRV 80 db-0.south.db.shop.svc.clusterset.local."},
		{"db-0.west.web.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, ""}, // web is not headless
		{"nope.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, ""},
		{"web.shop.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, ""},
		{"a.b.web.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, ""},
		{"_x.web.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			rrs, rcode := Answer(s, dns.Question{Name: tt.name, Qtype: tt.qtype, Qclass: dns.ClassINET})
			var got []string
			for _, rr := range rrs {
				if rr.Header().Ttl != TTL || rr.Header().Name != dns.Fqdn(strings.ToLower(tt.name)) {
					t.Errorf("header %v, want the question's name and TTL %d", rr.Header(), TTL)
				}
				got = append(got, recordString(rr))
			}
			if rcode != tt.rcode || strings.Join(got, "; ") != tt.want {
				t.Errorf("rcode %s answers %q; want %s %q", dns.RcodeToString[rcode], strings.Join(got, "; "), dns.RcodeToString[tt.rcode], tt.want)
			}
		})
	}
}

// Whatever the name, parse accepts only names of the zone with a service and a namespace.
func FuzzParse(f *testing.F) {
	f.Add("web.shop.svc.clusterset.local.")
	f.Add("_http._tcp.web.shop.svc.clusterset.local.")
	f.Add("db-0.west.db.shop.svc.clusterset.local")
	f.Fuzz(func(t *testing.T, name string) {
		q, ok := parse(name)
		if !ok {
			return
		}
		if q.service == "" || q.namespace == "" || !strings.HasSuffix(strings.ToLower(dns.Fqdn(name)), ".svc."+Zone) {
			t.Fatalf("parse(%q) = %+v", name, q)
		}
		Answer(store{}, dns.Question{Name: name, Qtype: dns.TypeA})
	})
}
