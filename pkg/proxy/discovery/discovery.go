package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
)

// FirstAnswerTimeout bounds how long a request waits for the destination service's first
// answer about a target it never asked of before.
const FirstAnswerTimeout = 3 * time.Second

// Resolver resolves targets through the destination service.
type Resolver struct {
	client destinationv1.DestinationClient
	self   *destinationv1.ProxyContext
	log    *slog.Logger
	// runCtx bounds the streams: they live as long as the proxy, not as the request that
	// asked first.
	runCtx context.Context

	mu   sync.Mutex
	subs map[string]*subscription
}

var _ proxy.Resolver = (*Resolver)(nil)

// New returns a resolver whose streams live until ctx ends. namespace and id describe the
// asking proxy to the destination service.
func New(ctx context.Context, client destinationv1.DestinationClient, namespace string, id trust.ID, log *slog.Logger) *Resolver {
	return &Resolver{
		client: client, log: log, runCtx: ctx, subs: map[string]*subscription{},
		self: &destinationv1.ProxyContext{Namespace: namespace, Identity: id.String()},
	}
}

type subscription struct {
	dest  *proxy.Destination
	ready chan struct{}
	once  sync.Once
}

// Resolve returns the destination of target, subscribing on first use and waiting for the
// first answer.
func (r *Resolver) Resolve(ctx context.Context, target string) (*proxy.Destination, error) {
	r.mu.Lock()
	s, ok := r.subs[target]
	if !ok {
		s = &subscription{dest: proxy.NewDestination(target), ready: make(chan struct{})}
		r.subs[target] = s
		go r.follow(target, s)
	}
	r.mu.Unlock()
	// Every request asks: once the first answer is in, answer without a timer.
	select {
	case <-s.ready:
		return s.dest, nil
	default:
	}
	t := time.NewTimer(FirstAnswerTimeout)
	defer t.Stop()
	select {
	case <-s.ready:
		return s.dest, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("the destination service did not answer for %s within %s", target, FirstAnswerTimeout)
	}
}

// follow keeps one target's stream open until the resolver's context ends.
func (r *Resolver) follow(target string, s *subscription) {
	req := &destinationv1.GetDestination{Context: r.self}
	if ap, err := netip.ParseAddrPort(target); err == nil {
		req.Target = &destinationv1.GetDestination_Address{Address: &destinationv1.SocketAddress{Ip: ap.Addr().Unmap().AsSlice(), Port: uint32(ap.Port())}}
	} else {
		req.Target = &destinationv1.GetDestination_Authority{Authority: target}
	}
	backoff := 100 * time.Millisecond
	for r.runCtx.Err() == nil {
		err := r.stream(req, s)
		if r.runCtx.Err() != nil {
			return
		}
		r.log.Warn("destination stream ended; endpoints kept until it is back", "target", target, "retryIn", backoff, "error", err)
		select {
		case <-time.After(backoff):
		case <-r.runCtx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (r *Resolver) stream(req *destinationv1.GetDestination, s *subscription) error {
	ctx, cancel := context.WithCancel(r.runCtx)
	defer cancel()
	stream, err := r.client.Get(ctx, req)
	if err != nil {
		return err
	}
	endpoints := map[string]proxy.Endpoint{} // by address: what Remove names
	for {
		u, err := stream.Recv()
		if err != nil {
			return err
		}
		switch u := u.GetUpdate().(type) {
		case *destinationv1.Update_Add:
			for _, e := range u.Add.GetEndpoints() {
				ep, err := endpointOf(e)
				if err != nil {
					r.log.Warn("endpoint from the destination service skipped", "target", s.dest.Name, "error", err)
					continue
				}
				endpoints[ep.Addr.String()] = ep
			}
			s.dest.SetKnown(true)
		case *destinationv1.Update_Remove:
			for _, a := range u.Remove.GetAddresses() {
				if ap, err := addrPortOf(a); err == nil {
					delete(endpoints, ap.String())
				}
			}
		case *destinationv1.Update_NoEndpoints:
			clear(endpoints)
			s.dest.SetKnown(u.NoEndpoints.GetExists())
		default:
			continue
		}
		byKey := make(map[string]proxy.Endpoint, len(endpoints))
		for _, ep := range endpoints {
			byKey[ep.Key()] = ep
		}
		s.dest.Endpoints.Update(byKey)
		s.once.Do(func() { close(s.ready) })
	}
}

var endpointsDesc = prometheus.NewDesc("meshfed_proxy_destination_endpoints",
	"Endpoints the proxy holds for each target it follows, as the destination service last said.",
	[]string{"target"}, nil)

// Describe and Collect make the resolver a Prometheus collector of what it holds, read at
// scrape time: an operator sees which targets the proxy follows and how many endpoints each
// has, and so whether a scale-down has reached it.
func (r *Resolver) Describe(ch chan<- *prometheus.Desc) { ch <- endpointsDesc }

func (r *Resolver) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for target, s := range r.subs {
		ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, float64(s.dest.Endpoints.Len()), target)
	}
}

func endpointOf(e *destinationv1.Endpoint) (proxy.Endpoint, error) {
	ap, err := addrPortOf(e.GetAddress())
	if err != nil {
		return proxy.Endpoint{}, err
	}
	ep := proxy.Endpoint{Addr: ap, Labels: e.GetLabels()}
	if s := e.GetTlsIdentity(); s != "" {
		id, err := trust.ParseID(s)
		if err != nil {
			return proxy.Endpoint{}, fmt.Errorf("endpoint %s: tls_identity: %w", ap, err)
		}
		ep.Identity = &id
	}
	if g := e.GetGateway(); g != nil {
		hop, err := gatewayOf(g)
		if err != nil {
			return proxy.Endpoint{}, fmt.Errorf("endpoint %s: gateway: %w", ap, err)
		}
		ep.Gateway = hop
	}
	switch e.GetProtocolHint() {
	case destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP1:
		ep.Protocol = proxy.ProtocolHTTP1
	case destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP2, destinationv1.ProtocolHint_PROTOCOL_HINT_GRPC:
		ep.Protocol = proxy.ProtocolHTTP2
	case destinationv1.ProtocolHint_PROTOCOL_HINT_OPAQUE:
		ep.Protocol = proxy.ProtocolOpaque
	}
	return ep, nil
}

func addrPortOf(a *destinationv1.SocketAddress) (netip.AddrPort, error) {
	ip, ok := netip.AddrFromSlice(a.GetIp())
	if !ok {
		return netip.AddrPort{}, errors.New("address: ip is neither 4 nor 16 bytes")
	}
	if a.GetPort() == 0 || a.GetPort() > 65535 {
		return netip.AddrPort{}, fmt.Errorf("address %s: port %d is out of range", ip, a.GetPort())
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.GetPort())), nil
}

// gatewayOf reads the way to an endpoint of another cluster. The gateway's identity is
// required: without it the outer session would trust any member of the federation.
func gatewayOf(g *destinationv1.Gateway) (*proxy.GatewayHop, error) {
	id, err := trust.ParseID(g.GetTlsIdentity())
	if err != nil {
		return nil, fmt.Errorf("tls_identity (the Link's spec.gatewayIdentity): %w", err)
	}
	host, port, err := net.SplitHostPort(g.GetAuthority())
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("authority %q is not host:port", g.GetAuthority())
	}
	hop := &proxy.GatewayHop{Identity: id, Authority: g.GetAuthority(), Cluster: g.GetCluster()}
	for _, s := range g.GetRemoteIdentities() {
		rid, err := trust.ParseID(s)
		if err != nil {
			return nil, fmt.Errorf("remote_identities: %w", err)
		}
		hop.RemoteIdentities = append(hop.RemoteIdentities, rid)
	}
	return hop, nil
}
