package main

import (
	"context"
	"fmt"
	"net"
	"slices"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	// bind keeps the server on loopback; dnsplugin registers the clusterset directive.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/meshfed/meshfed/pkg/dnsplugin"
)

func init() {
	// The directive where cmd/coredns places it, the clusters' CoreDNS: before kubernetes.
	i := slices.Index(dnsserver.Directives, "kubernetes")
	dnsserver.Directives = slices.Insert(dnsserver.Directives, i, "clusterset")
}

// startDNS serves clusterset.local in this process as the clusters' CoreDNS does: CoreDNS's
// own server and pkg/dnsplugin's clusterset plugin, set up from a Corefile, its informers
// reading the apiserver kubeconfig reaches. It returns when the plugin's caches have synced
// (or its own start-up deadline passed) and the server listens on a UDP port of 127.0.0.1;
// stop it with the instance's Stop.
func startDNS(kubeconfig string) (*caddy.Instance, string, error) {
	caddy.Quiet, dnsserver.Quiet = true, true
	corefile := fmt.Sprintf("clusterset.local:0 {\n\tbind 127.0.0.1\n\tclusterset {\n\t\tkubeconfig %s\n\t}\n}\n", kubeconfig)
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"})
	if err != nil {
		return nil, "", fmt.Errorf("starting CoreDNS with the clusterset plugin: %w", err)
	}
	for _, s := range inst.Servers() {
		if a, ok := s.LocalAddr().(*net.UDPAddr); ok && a != nil {
			return inst, a.String(), nil
		}
	}
	stopDNS(inst)
	return nil, "", fmt.Errorf("CoreDNS started with no UDP listener")
}

// stopDNS stops the server and then its plugin's informers: caddy's Stop leaves the
// shutdown callbacks to whoever calls it, and an apiserver with their watches still open
// takes its whole grace period to stop.
func stopDNS(inst *caddy.Instance) {
	inst.Stop()
	inst.ShutdownCallbacks()
}

// resolver asks the DNS server at addr, as a pod's resolver would, over UDP.
type resolver struct {
	client *dns.Client
	addr   string
}

func newResolver(addr string) resolver {
	return resolver{client: &dns.Client{Net: "udp"}, addr: addr}
}

// answers says whether the server answers name's A question with ip; if not, what it said.
func (r resolver) answers(ctx context.Context, name, ip string) (bool, string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	reply, _, err := r.client.ExchangeContext(ctx, m, r.addr)
	if err != nil {
		return false, "", fmt.Errorf("asking %s for %s: %w", r.addr, name, err)
	}
	var got []string
	for _, rr := range reply.Answer {
		if a, ok := rr.(*dns.A); ok {
			if a.A.String() == ip {
				return true, "", nil
			}
			got = append(got, a.A.String())
		}
	}
	return false, fmt.Sprintf("%s: %s %v, want %s", name, dns.RcodeToString[reply.Rcode], got, ip), nil
}
