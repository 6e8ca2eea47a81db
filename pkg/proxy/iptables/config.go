package iptables

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The ports and UID the mesh uses unless told otherwise (DESIGN.md, "Names on the wire").
const (
	DefaultOutboundPort = 4140
	DefaultInboundPort  = 4143
	DefaultProxyUID     = 2102
	// AdminPort serves the proxy's /ready, /live and /metrics. The kubelet's probes and
	// Prometheus must reach it as they are, so inbound redirection skips it.
	AdminPort = 4191
	// ControlPort is kept free of redirection beside the admin port, as Linkerd keeps its
	// 4190 (the proxy's tap/control listener), so a later control listener needs no change
	// to the rules of pods already running.
	ControlPort = 4190
)

// PortRange is a TCP port, or an inclusive range of them when Last > First.
type PortRange struct {
	First, Last int
}

// Port is the range holding only p.
func Port(p int) PortRange { return PortRange{First: p, Last: p} }

// String is the range as iptables and the flags spell it: "4191" or "3306-3307".
func (r PortRange) String() string {
	if r.Last == r.First {
		return strconv.Itoa(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// iptablesSpec is the range as --dport takes it, which wants a colon.
func (r PortRange) iptablesSpec() string {
	if r.Last == r.First {
		return strconv.Itoa(r.First)
	}
	return fmt.Sprintf("%d:%d", r.First, r.Last)
}

func (r PortRange) contains(p int) bool { return r.First <= p && p <= r.Last }

// Config says where the proxy listens and what traffic it must not see.
type Config struct {
	// ProxyUID is the UID the proxy runs as. Its own connections are never redirected:
	// otherwise the proxy's connection to the real destination would come back to it.
	ProxyUID uint32
	// OutboundPort receives the pod's outbound TCP; InboundPort the TCP that arrives for it.
	OutboundPort, InboundPort int
	// SkipInboundPorts reach the pod's processes directly, not through the proxy.
	SkipInboundPorts []PortRange
	// SkipOutboundPorts and SkipOutboundCIDRs name destinations the pod reaches directly.
	SkipOutboundPorts []PortRange
	SkipOutboundCIDRs []netip.Prefix
	// IPv6 makes the same rules for ip6tables too. Off by default: a cluster without IPv6
	// may lack ip6tables' nat table, and the init step must not fail there.
	IPv6 bool
}

// DefaultConfig is the mesh's usual sidecar: ports 4140 and 4143, UID 2102, and the admin and
// control ports reachable without the proxy.
func DefaultConfig() Config {
	return Config{
		ProxyUID:         DefaultProxyUID,
		OutboundPort:     DefaultOutboundPort,
		InboundPort:      DefaultInboundPort,
		SkipInboundPorts: []PortRange{Port(ControlPort), Port(AdminPort)},
	}
}

// Validate says what is wrong with c, every problem at once, or nil.
func (c Config) Validate() error {
	var errs []error
	// UID 0 would exempt every process running as root, the application's too, from the
	// mesh; (uid_t)-1 is "no UID" to the kernel.
	if c.ProxyUID == 0 || c.ProxyUID == 1<<32-1 {
		errs = append(errs, fmt.Errorf("proxy UID %d: want the proxy's own non-root UID (default %d); 0 would exempt every root process from the mesh", c.ProxyUID, DefaultProxyUID))
	}
	if err := validPort(c.OutboundPort); err != nil {
		errs = append(errs, fmt.Errorf("outbound port: %w", err))
	}
	if err := validPort(c.InboundPort); err != nil {
		errs = append(errs, fmt.Errorf("inbound port: %w", err))
	}
	if c.OutboundPort == c.InboundPort {
		errs = append(errs, fmt.Errorf("outbound and inbound port are both %d: the proxy needs one for each (defaults %d and %d)", c.OutboundPort, DefaultOutboundPort, DefaultInboundPort))
	}
	for _, r := range c.SkipInboundPorts {
		if err := validRange(r); err != nil {
			errs = append(errs, fmt.Errorf("inbound ports to skip: %w", err))
		} else if r.contains(c.InboundPort) {
			errs = append(errs, fmt.Errorf("inbound ports to skip: %s holds the proxy's inbound port %d, which must stay reachable", r, c.InboundPort))
		}
	}
	for _, r := range c.SkipOutboundPorts {
		if err := validRange(r); err != nil {
			errs = append(errs, fmt.Errorf("outbound ports to skip: %w", err))
		}
	}
	for _, p := range c.SkipOutboundCIDRs {
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("outbound CIDRs to skip: %q is not a CIDR; write it as 198.18.0.0/15 or fd00::/8", p))
		case p.Addr().Is4In6():
			errs = append(errs, fmt.Errorf("outbound CIDRs to skip: %s is an IPv4 range written as IPv6; write it as IPv4", p))
		case p.Addr().Is6() && !c.IPv6:
			errs = append(errs, fmt.Errorf("outbound CIDRs to skip: %s is IPv6 but IPv6 rules are off; turn them on or drop it", p))
		}
	}
	return errors.Join(errs...)
}

func validPort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%d is not a TCP port: want 1-65535", p)
	}
	return nil
}

func validRange(r PortRange) error {
	if err := validPort(r.First); err != nil {
		return err
	}
	if err := validPort(r.Last); err != nil {
		return err
	}
	if r.Last < r.First {
		return fmt.Errorf("range %d-%d ends before it starts: write it low-high", r.First, r.Last)
	}
	return nil
}

// ParsePorts reads a comma-separated list of ports and ranges, "4190,4191,3306-3307"; an
// empty string is no ports. Spaces around items are allowed.
func ParsePorts(s string) ([]PortRange, error) {
	var out []PortRange
	for _, item := range splitList(s) {
		first, last, isRange := strings.Cut(item, "-")
		var r PortRange
		var err error
		if r.First, err = parsePort(first); err != nil {
			return nil, fmt.Errorf("port list %q: %w", s, err)
		}
		r.Last = r.First
		if isRange {
			if r.Last, err = parsePort(last); err != nil {
				return nil, fmt.Errorf("port list %q: %w", s, err)
			}
		}
		if err := validRange(r); err != nil {
			return nil, fmt.Errorf("port list %q: %w", s, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number: want 1-65535, or a range such as 3306-3307", s)
	}
	if err := validPort(p); err != nil {
		return 0, err
	}
	return p, nil
}

// ParseCIDRs reads a comma-separated list of CIDRs, "198.18.0.0/15,fd00::/8"; an empty
// string is none. A bare address is refused rather than read as a /32, so that a forgotten
// prefix length is not a silent narrowing; host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range splitList(s) {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("CIDR list %q: %q is not a CIDR: write it as 198.18.0.0/15 or 198.18.0.1/32", s, item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// FormatPorts is the inverse of ParsePorts.
func FormatPorts(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}
