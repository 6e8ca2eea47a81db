package dnsplugin

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// Zone is the clusterset's DNS zone.
const Zone = "clusterset.local."

// TTL is the answers' time to live in seconds: short, as endpoints come and go with the
// linked clusters', and CoreDNS's cache plugin may hold them as long.
const TTL = 5

// Store is what answers are made from: the informers' caches in CoreDNS, fixtures in tests.
type Store interface {
	// ServiceImport returns the ServiceImport ns/name, if there is one.
	ServiceImport(ns, name string) (*mcsv1alpha1.ServiceImport, bool)
	// Slices returns the EndpointSlices of the clusterset service ns/name: those labelled
	// multicluster.kubernetes.io/service-name=name in ns.
	Slices(ns, name string) []*discoveryv1.EndpointSlice
}

// query is a name of the zone, parsed.
type query struct {
	// service and namespace of the ServiceImport asked about.
	service, namespace string
	// hostname and cluster, for one pod of a Headless import.
	hostname, cluster string
	// port and proto, for an SRV name _<port>._<proto>.<svc>...
	port, proto string
}

// parse reads name, lower case and fully qualified, as a name of the zone; false when it is
// none (such a name is NXDOMAIN).
func parse(name string) (query, bool) {
	rest, ok := strings.CutSuffix(strings.ToLower(dns.Fqdn(name)), ".svc."+Zone)
	if !ok {
		return query{}, false
	}
	labels := strings.Split(rest, ".")
	n := len(labels)
	if n < 2 {
		return query{}, false
	}
	q := query{service: labels[n-2], namespace: labels[n-1]}
	switch n {
	case 2:
	case 4:
		if strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
			q.port, q.proto = labels[0][1:], labels[1][1:]
		} else {
			q.hostname, q.cluster = labels[0], labels[1]
		}
	default:
		return query{}, false
	}
	if q.service == "" || q.namespace == "" || (q.port == "" && q.proto != "") {
		return query{}, false
	}
	for _, l := range []string{q.service, q.namespace, q.hostname, q.cluster} {
		if strings.HasPrefix(l, "_") {
			return query{}, false
		}
	}
	return q, true
}

// Answer answers one question about the zone: the records and the response code
// (dns.RcodeSuccess with no records is NODATA).
func Answer(s Store, question dns.Question) ([]dns.RR, int) {
	q, ok := parse(question.Name)
	if !ok {
		return nil, dns.RcodeNameError
	}
	si, ok := s.ServiceImport(q.namespace, q.service)
	if !ok {
		return nil, dns.RcodeNameError
	}
	name := dns.Fqdn(strings.ToLower(question.Name))
	svcName := q.service + "." + q.namespace + ".svc." + Zone
	headless := si.Spec.Type == mcsv1alpha1.Headless
	switch {
	case q.hostname != "":
		if !headless {
			return nil, dns.RcodeNameError
		}
		var addrs []netip.Addr
		for _, e := range directEndpoints(s.Slices(q.namespace, q.service)) {
			if e.cluster == q.cluster && e.hostname == q.hostname {
				addrs = append(addrs, e.addr)
			}
		}
		if len(addrs) == 0 {
			return nil, dns.RcodeNameError
		}
		return addressRecords(name, question.Qtype, addrs), dns.RcodeSuccess
	case q.port != "":
		p, ok := portNamed(si, q.port, q.proto)
		if !ok {
			return nil, dns.RcodeNameError
		}
		if question.Qtype != dns.TypeSRV {
			return nil, dns.RcodeSuccess
		}
		if !headless {
			return []dns.RR{srv(name, svcName, p.Port)}, dns.RcodeSuccess
		}
		var out []dns.RR
		for _, e := range directEndpoints(s.Slices(q.namespace, q.service)) {
			if e.hostname != "" {
				out = append(out, srv(name, e.hostname+"."+e.cluster+"."+svcName, p.Port))
			}
		}
		return out, dns.RcodeSuccess
	}
	switch question.Qtype {
	case dns.TypeSRV:
		var out []dns.RR
		for _, p := range si.Spec.Ports {
			out = append(out, srv(name, svcName, p.Port))
		}
		return out, dns.RcodeSuccess
	case dns.TypeA, dns.TypeAAAA:
	default:
		return nil, dns.RcodeSuccess
	}
	var addrs []netip.Addr
	if headless {
		for _, e := range directEndpoints(s.Slices(q.namespace, q.service)) {
			addrs = append(addrs, e.addr)
		}
	} else {
		for _, ip := range si.Spec.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				addrs = append(addrs, a)
			}
		}
	}
	return addressRecords(name, question.Qtype, addrs), dns.RcodeSuccess
}

// endpoint is one ready endpoint of a clusterset service that this cluster reaches directly.
type endpoint struct {
	addr              netip.Addr
	hostname, cluster string
}

// directEndpoints are the ready endpoints of slices that each stand for one pod, not a
// gateway: this cluster's own member's (mode local), a flat member's pods, and the per-pod
// mirrors of a member behind its gateway (mode pod-mirrors). A slice at a linked cluster's
// gateway is no pod's address, and a headless name must not answer with it.
func directEndpoints(slices []*discoveryv1.EndpointSlice) []endpoint {
	var out []endpoint
	seen := map[netip.Addr]bool{}
	for _, s := range slices {
		if s.Labels[mcv1alpha1.LabelMirrorMode] == mcv1alpha1.MirrorModeFederated || s.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName] != "" {
			continue
		}
		cluster := s.Labels[mcsv1alpha1.LabelSourceCluster]
		for _, e := range s.Endpoints {
			if (e.Conditions.Ready != nil && !*e.Conditions.Ready) || len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || seen[a] {
				continue
			}
			seen[a] = true
			ep := endpoint{addr: a.Unmap(), cluster: cluster}
			if e.Hostname != nil {
				ep.hostname = strings.ToLower(*e.Hostname)
			}
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr.Less(out[j].addr) })
	return out
}

// portNamed finds the ServiceImport's port named name of protocol proto (lower case).
func portNamed(si *mcsv1alpha1.ServiceImport, name, proto string) (mcsv1alpha1.ServicePort, bool) {
	for _, p := range si.Spec.Ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if strings.ToLower(p.Name) == name && strings.ToLower(string(pp)) == proto {
			return p, true
		}
	}
	return mcsv1alpha1.ServicePort{}, false
}

// addressRecords are the A (or AAAA) records of name for those of addrs of the family qtype
// asks for.
func addressRecords(name string, qtype uint16, addrs []netip.Addr) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: TTL}
		switch {
		case qtype == dns.TypeA && a.Is4():
			hdr.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case qtype == dns.TypeAAAA && a.Is6():
			hdr.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return out
}

func srv(name, target string, port int32) dns.RR {
	return &dns.SRV{
		Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: TTL},
		Target: target, Port: uint16(port), Priority: 0, Weight: 100,
	}
}
