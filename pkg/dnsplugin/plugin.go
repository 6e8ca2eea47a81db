package dnsplugin

import (
	"context"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// pluginName is the plugin's directive in a Corefile.
const pluginName = "clusterset"

// Handler answers the names of the zone from Store (Answer), and hands every other name to
// Next: cluster.local stays the kubernetes plugin's.
type Handler struct {
	Store Store
	Next  plugin.Handler
}

// ServeDNS implements plugin.Handler.
func (h Handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	if plugin.Zones([]string{Zone}).Matches(state.Name()) == "" {
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	records, rcode := Answer(h.Store, r.Question[0])
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Rcode = rcode
	m.Answer = records
	if len(records) == 0 {
		m.Ns = []dns.RR{soa()}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// Name implements plugin.Handler.
func (h Handler) Name() string { return pluginName }

// soa is the zone's SOA, for the authority section of a negative answer.
func soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns:      "ns.dns." + Zone,
		Mbox:    "hostmaster." + Zone,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  TTL,
	}
}
