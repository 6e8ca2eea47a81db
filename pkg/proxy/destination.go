package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
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
	// Gateway is set for an endpoint of another cluster: the proxy reaches it through that
	// cluster's east-west gateway, and Addr is the gateway's address.
	Gateway *GatewayHop
}

// GatewayHop is the way to a service of another cluster through its east-west gateway: an
// outer mTLS session to the gateway, which must prove Identity, an HTTP/2 CONNECT for
// Authority, and inside that stream the proxy's own mTLS session with the remote workload,
// which must prove the endpoint's Identity or one of RemoteIdentities (the gateway, not the
// proxy, picks the remote pod).
type GatewayHop struct {
	// Identity is what the gateway must prove in the outer session.
	Identity trust.ID
	// Authority is the remote service as the remote cluster names it, host:port.
	Authority string
	// Cluster is the remote cluster's name, for logs and metrics.
	Cluster          string
	RemoteIdentities []trust.ID
}

// meshed is whether the proxy reaches the endpoint over mTLS: it has an identity, or it is
// behind a gateway, which only carries mTLS.
func (e Endpoint) meshed() bool { return e.Identity != nil || e.Gateway != nil }

// Key identifies an endpoint in a balancer. Endpoints behind one gateway share its address,
// so a gateway endpoint is told apart by the authority it asks for.
func (e Endpoint) Key() string {
	k := e.Addr.String()
	if e.Identity != nil {
		k += " " + e.Identity.String()
	}
	if e.Gateway != nil {
		k += " via " + e.Gateway.Identity.String() + " for " + e.Gateway.Authority
	}
	return k
}

// Destination is what the destination service says of one target, kept current.
type Destination struct {
	// Name is the target asked for: an authority host:port or an ip:port.
	Name string
	// Endpoints are keyed by Endpoint.Key: the outbound proxy keeps its connections to peers
	// by the key a pick carries.
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

// Cached returns a resolver that answers from s with one Destination per known target, made
// on first use and kept, as the destination service's resolver keeps one per subscription:
// a request then costs a map lookup, not a new balancer, and the balancer learns the
// endpoints' latencies across requests. Targets s does not know are answered afresh, so that
// the cache stays as small as s.
func (s StaticResolver) Cached() Resolver {
	return &cachedResolver{table: s, dests: map[string]*Destination{}}
}

type cachedResolver struct {
	table StaticResolver
	mu    sync.RWMutex
	dests map[string]*Destination
}

func (c *cachedResolver) Resolve(ctx context.Context, target string) (*Destination, error) {
	c.mu.RLock()
	d, ok := c.dests[target]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	if _, known := c.table[target]; !known {
		return c.table.Resolve(ctx, target)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.dests[target]; ok {
		return d, nil
	}
	d, err := c.table.Resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	c.dests[target] = d
	return d, nil
}

// errNoEndpoints is what a client sees when a known destination has no ready endpoint.
type errNoEndpoints struct{ target string }

func (e errNoEndpoints) Error() string {
	return fmt.Sprintf("%s has no ready endpoint", e.target)
}
