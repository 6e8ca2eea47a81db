package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/meshfed/meshfed/pkg/proxy/balance"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Protocol is what an endpoint is known to speak, as the destination service hints it.
type Protocol int

const (
	ProtocolUnknown Protocol = iota
	ProtocolHTTP1
	ProtocolHTTP2
	ProtocolOpaque
)

// Endpoint is one place a destination's traffic may go.
type Endpoint struct {
	Addr netip.AddrPort
	// Identity is what the endpoint's proxy must prove; nil means it has none, and traffic
	// goes to it in plaintext, as without a mesh.
	Identity *trust.ID
	Protocol Protocol
	// Labels describe the endpoint for metrics: pod, namespace, workload, cluster.
	Labels map[string]string
}

// Key identifies an endpoint in a balancer.
func (e Endpoint) Key() string {
	if e.Identity == nil {
		return e.Addr.String()
	}
	return e.Addr.String() + " " + e.Identity.String()
}

// Destination is what the destination service says of one target, kept current.
type Destination struct {
	// Name is the target asked for: an authority host:port or an ip:port.
	Name      string
	Endpoints *balance.Balancer[Endpoint]
	known     atomic.Bool
}

// NewDestination returns a destination with no endpoints, unknown until SetKnown.
func NewDestination(name string) *Destination {
	return &Destination{Name: name, Endpoints: balance.New[Endpoint]()}
}

// Known is false when the mesh knows nothing of the target: it is then reached directly.
func (d *Destination) Known() bool { return d.known.Load() }

// SetKnown says whether the mesh knows the target.
func (d *Destination) SetKnown(known bool) { d.known.Store(known) }

// Resolver finds the endpoints of a target and keeps them current for as long as the proxy
// runs. Resolvers share one subscription per target between all connections.
type Resolver interface {
	Resolve(ctx context.Context, target string) (*Destination, error)
}

// StaticResolver answers from a fixed table: for tests and for a proxy run without a
// destination service.
type StaticResolver map[string][]Endpoint

func (s StaticResolver) Resolve(_ context.Context, target string) (*Destination, error) {
	eps, ok := s[target]
	d := NewDestination(target)
	d.SetKnown(ok)
	m := make(map[string]Endpoint, len(eps))
	for _, e := range eps {
		m[e.Key()] = e
	}
	d.Endpoints.Update(m)
	return d, nil
}

// errNoEndpoints is what a client sees when a known destination has no ready endpoint.
type errNoEndpoints struct{ target string }

func (e errNoEndpoints) Error() string {
	return fmt.Sprintf("%s has no ready endpoint", e.target)
}
