package policy

import (
	"net/netip"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshfed/meshfed/pkg/trust"
)

// Pod is the pod a connection arrives at.
type Pod struct {
	// Labels are the pod's labels, which Servers' podSelectors select.
	Labels map[string]string
	// Ports are the pod's named container ports, name to number: a Server may name its port.
	Ports map[string]uint16
}

// Client is who opened the connection.
type Client struct {
	// ID is the identity the client's certificate proves, verified by the caller's TLS stack
	// against the trust bundle; nil for a plaintext connection.
	ID *trust.ID
	// Addr is the client's address as the pod sees it.
	Addr netip.Addr
}

// Decision is the verdict on one connection, and why.
type Decision struct {
	Allowed bool
	// Server is the Server that selects the port; empty when none does and the default
	// policy decided.
	Server string
	// Policy is the AuthorizationPolicy that allowed the client, or the only one there was to
	// deny it; "default:<policy>" when the default policy decided. Empty when several
	// policies denied: Reason names them.
	Policy string
	// Reason says why, in a sentence fit for a log or an error to the client's operator.
	Reason string
}

// Authorize decides a connection from client to port of pod, a pod of the Index's namespace;
// def decides the ports no Server selects. It allocates nothing: every reason was written
// by Compile.
func (ix *Index) Authorize(pod Pod, port uint16, client Client, def DefaultPolicy) Decision {
	srv := ix.serverFor(pod, port)
	if srv == nil {
		return def.decide(client.ID != nil)
	}
	// A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d; networks are written
	// as IPv4. A zone never matches a prefix.
	client.Addr = client.Addr.Unmap().WithZone("")
	for _, p := range srv.policies {
		if p.allows(&client) {
			return Decision{Allowed: true, Server: srv.name, Policy: p.name, Reason: p.allowed}
		}
	}
	if len(srv.policies) == 1 {
		p := srv.policies[0]
		return Decision{Server: srv.name, Policy: p.name, Reason: p.unmet(&client)}
	}
	return Decision{Server: srv.name, Reason: srv.denied}
}

// serverFor returns the Server that selects port of pod, or nil: of several, the one of
// lowest rank.
func (ix *Index) serverFor(pod Pod, port uint16) *server {
	var best *server
	for _, s := range ix.byPort[port] {
		if s.selector.Matches(labels.Set(pod.Labels)) {
			best = s
			break
		}
	}
	for i := range ix.byName {
		named := &ix.byName[i]
		if n, ok := pod.Ports[named.portName]; !ok || n != port {
			continue
		}
		for _, s := range named.servers {
			if best != nil && s.rank > best.rank {
				break
			}
			if s.selector.Matches(labels.Set(pod.Labels)) {
				best = s
				break
			}
		}
	}
	return best
}

func (p *authorizationPolicy) allows(c *Client) bool {
	for i := range p.required {
		if !p.required[i].passes(c) {
			return false
		}
	}
	return true
}

// unmet is the reason of the first requirement the client does not pass.
func (p *authorizationPolicy) unmet(c *Client) string {
	for i := range p.required {
		r := &p.required[i]
		if r.passes(c) {
			continue
		}
		if c.ID == nil {
			return r.plaintext
		}
		return r.unmet
	}
	return "" // not reached: Authorize asks only of a policy that denied
}

func (r *requirement) passes(c *Client) bool {
	switch r.kind {
	case byMeshTLS:
		if c.ID == nil {
			return false
		}
		for _, p := range r.identities {
			if p.matches(c.ID) {
				return true
			}
		}
	case byNetwork:
		for i := range r.networks {
			if r.networks[i].contains(c.Addr) {
				return true
			}
		}
	case byServiceAccount:
		return c.ID != nil && *c.ID == r.identity
	}
	return false
}

func (n *network) contains(a netip.Addr) bool {
	if !n.cidr.Contains(a) {
		return false
	}
	for _, e := range n.except {
		if e.Contains(a) {
			return false
		}
	}
	return true
}
