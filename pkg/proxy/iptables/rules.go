package iptables

import (
	"fmt"
	"strconv"
	"strings"
)

// Our chains in the nat table. Each _REDIRECT chain holds the one REDIRECT of its direction,
// so where traffic goes is written once, and the other chains only decide whether it goes.
const (
	ChainInbound          = "MESHFED_INBOUND"
	ChainInboundRedirect  = "MESHFED_INBOUND_REDIRECT"
	ChainOutput           = "MESHFED_OUTPUT"
	ChainOutboundRedirect = "MESHFED_OUTBOUND_REDIRECT"
)

// chains are declared in every transaction: with --noflush, iptables-restore flushes a
// declared chain that exists and makes one that does not, which is how Apply rebuilds them
// in place.
var chains = []string{ChainInbound, ChainInboundRedirect, ChainOutput, ChainOutboundRedirect}

// jump is a rule in a built-in chain that sends traffic into one of ours: the only rules
// outside our chains, and the only ones Apply must not add twice.
type jump struct{ from, to, comment string }

var jumps = []jump{
	// PREROUTING sees only what arrives from outside the pod: the pod's connections to
	// itself go through OUTPUT and lo, where their NAT is decided.
	{"PREROUTING", ChainInbound, "meshfed: inbound TCP to the proxy"},
	{"OUTPUT", ChainOutput, "meshfed: outbound TCP to the proxy"},
}

type family int

const (
	ipv4 family = iota
	ipv6
)

func (f family) loopback() string {
	if f == ipv6 {
		return "::1/128"
	}
	// All of 127/8 is loopback, not only 127.0.0.1.
	return "127.0.0.0/8"
}

// Rules is cfg as iptables-restore input for the IPv4 nat table, as a fresh network namespace
// gets it: our chains, their rules and the jumps into them. `proxy init --dry-run` prints it.
// cfg should be valid (Config.Validate); Rules checks nothing.
func Rules(cfg Config) string { return render(cfg, ipv4, nil) }

// Rules6 is Rules for ip6tables: the same rules with ::1 as loopback and cfg's IPv6 CIDRs.
func Rules6(cfg Config) string { return render(cfg, ipv6, nil) }

// render writes the transaction, leaving out the jumps in present.
func render(cfg Config, fam family, present map[jump]bool) string {
	var b strings.Builder
	// Every rule carries a comment because iptables-save is what people debugging a pod
	// read, and it should say whose rule it is and why it is there. Comments avoid quote
	// characters: iptables-restore's tokenizer knows only plain double quotes.
	add := func(chain, match, comment, target string) {
		b.WriteString("-A " + chain + " ")
		if match != "" {
			b.WriteString(match + " ")
		}
		fmt.Fprintf(&b, "-m comment --comment \"%s\" -j %s\n", comment, target)
	}

	b.WriteString("*nat\n")
	for _, c := range chains {
		b.WriteString(":" + c + " - [0:0]\n")
	}

	add(ChainInboundRedirect, "-p tcp", "meshfed: to the inbound port of the proxy", "REDIRECT --to-ports "+strconv.Itoa(cfg.InboundPort))
	for _, r := range cfg.SkipInboundPorts {
		add(ChainInbound, "-p tcp --dport "+r.iptablesSpec(), "meshfed: inbound port "+r.String()+" skips the proxy", "RETURN")
	}
	add(ChainInbound, "-p tcp", "meshfed: inbound TCP to the proxy", ChainInboundRedirect)

	add(ChainOutboundRedirect, "-p tcp", "meshfed: to the outbound port of the proxy", "REDIRECT --to-ports "+strconv.Itoa(cfg.OutboundPort))
	// Without this the proxy's own connections to their real destinations would come back
	// to it, for ever.
	add(ChainOutput, "-m owner --uid-owner "+strconv.FormatUint(uint64(cfg.ProxyUID), 10), "meshfed: traffic of the proxy itself", "RETURN")
	// The proxy hands inbound connections to the application over loopback, and anything
	// the pod sends to itself leaves through lo: none of it is for the mesh.
	add(ChainOutput, "-o lo", "meshfed: loopback interface", "RETURN")
	add(ChainOutput, "-d "+fam.loopback(), "meshfed: loopback destination", "RETURN")
	for _, r := range cfg.SkipOutboundPorts {
		add(ChainOutput, "-p tcp --dport "+r.iptablesSpec(), "meshfed: outbound port "+r.String()+" skips the proxy", "RETURN")
	}
	for _, p := range cfg.SkipOutboundCIDRs {
		if p.Addr().Is6() != (fam == ipv6) {
			continue
		}
		add(ChainOutput, "-d "+p.Masked().String(), "meshfed: outbound CIDR "+p.Masked().String()+" skips the proxy", "RETURN")
	}
	add(ChainOutput, "-p tcp", "meshfed: outbound TCP to the proxy", ChainOutboundRedirect)

	for _, j := range jumps {
		if !present[j] {
			add(j.from, "", j.comment, j.to)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
