package dnsplugin

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// The plugin answers clusterset.local with authority, an SOA on negative answers, and hands
// every other name, cluster.local included, to the next plugin.
func TestHandlerServeDNS(t *testing.T) {
	var nextAsked []string
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		nextAsked = append(nextAsked, r.Question[0].Name)
		return dns.RcodeRefused, nil
	})
	h := Handler{Store: store{imports: map[string]*mcsv1alpha1.ServiceImport{
		"shop/web": serviceImport(mcsv1alpha1.ClusterSetIP, "198.19.240.10"),
	}}, Next: next}
	tests := []struct {
		name      string
		qtype     uint16
		rcode     int
		answers   int
		authority bool
	}{
		{"web.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"nope.shop.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError, 0, true},
		{"web.shop.svc.clusterset.local.", dns.TypeTXT, dns.RcodeSuccess, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			m := new(dns.Msg)
			m.SetQuestion(tt.name, tt.qtype)
			if _, err := h.ServeDNS(context.Background(), rec, m); err != nil {
				t.Fatal(err)
			}
			got := rec.Msg
			if got.Rcode != tt.rcode || len(got.Answer) != tt.answers || !got.Authoritative || (len(got.Ns) > 0) != tt.authority {
				t.Errorf("rcode %s, %d answers, authoritative %v, %d authority records; want %s, %d, true, authority %v",
					dns.RcodeToString[got.Rcode], len(got.Answer), got.Authoritative, len(got.Ns), dns.RcodeToString[tt.rcode], tt.answers, tt.authority)
			}
		})
	}
	m := new(dns.Msg)
	m.SetQuestion("web.shop.svc.cluster.local.", dns.TypeA)
	if code, _ := h.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m); code != dns.RcodeRefused || len(nextAsked) != 1 {
		t.Errorf("cluster.local: code %d, next asked %v; want it handed on", code, nextAsked)
	}
}

// The Corefile's clusterset block: the zone may be named, but only clusterset.local.
func TestParseConfig(t *testing.T) {
	tests := []struct {
		corefile string
		ok       bool
	}{
		{"clusterset", true},
		{"clusterset clusterset.local", true},
		{"clusterset {\n kubeconfig /etc/kube.conf west\n}", true},
		{"clusterset example.org", false},
		{"clusterset {\n ttl 5\n}", false},
		{"clusterset {\n kubeconfig\n}", false},
	}
	for _, tt := range tests {
		_, _, err := parseConfig(caddy.NewTestController("dns", tt.corefile))
		if (err == nil) != tt.ok {
			t.Errorf("%q: error %v, want ok %v", tt.corefile, err, tt.ok)
		}
	}
}
