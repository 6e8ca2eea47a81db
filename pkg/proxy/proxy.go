package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/proxy/origdst"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Ports the proxy listens on, as iptables sends to them.
const (
	OutboundPort = 4140
	InboundPort  = 4143
	AdminPort    = 4191
)

// Authorizer decides whether an inbound connection is let through to the app: client is the
// verified identity of a meshed client, nil for plaintext.
type Authorizer interface {
	Authorize(port uint16, client *trust.ID, from netip.Addr) (allowed bool, reason string)
}

// AllowAll lets everything through: a pod with no policy.
type AllowAll struct{}

func (AllowAll) Authorize(uint16, *trust.ID, netip.Addr) (bool, string) { return true, "no policy" }

// Config is a proxy's.
type Config struct {
	Certs    *certs.Manager
	Resolver Resolver
	Policy   Authorizer
	Log      *slog.Logger
	Metrics  prometheus.Registerer
	// Workload names this pod's workload in metrics (a Deployment's name, say).
	Workload string
	// AppHost is where inbound traffic is delivered: the app on localhost.
	AppHost netip.Addr
	// DetectTimeout is how long a new connection may stay silent before it is taken as
	// opaque TCP (a server-speaks-first protocol).
	DetectTimeout time.Duration
	// OriginalDestination finds where a redirected connection was going: SO_ORIGINAL_DST
	// unless a test sets it.
	OriginalDestination func(net.Conn) (netip.AddrPort, error)
	// DialTimeout bounds a connection to an endpoint or the app.
	DialTimeout time.Duration
	// Dial opens the proxy's own connections, to endpoints and to the app: a plain
	// net.Dialer unless a test must make them in a network namespace or as the proxy's UID.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultOriginalDestination is where a connection iptables redirected was going, from the
// kernel (SO_ORIGINAL_DST).
func DefaultOriginalDestination(c net.Conn) (netip.AddrPort, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("not a TCP connection: %T", c)
	}
	return origdst.OriginalDestination(tc)
}

// Proxy is one sidecar proxy.
type Proxy struct {
	cfg     Config
	metrics *metrics
	buffers *bufferPool
	// errorLog takes what net/http's servers and ReverseProxy report themselves (a body cut
	// short, a handler's panic) into the proxy's structured log.
	errorLog *log.Logger
	outbound *outbound
	inbound  *inbound

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New checks cfg and returns a proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Certs == nil || cfg.Resolver == nil || cfg.Log == nil {
		return nil, errors.New("proxy needs certificates, a resolver and a logger")
	}
	if cfg.Policy == nil {
		cfg.Policy = AllowAll{}
	}
	if !cfg.AppHost.IsValid() {
		cfg.AppHost = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.DetectTimeout == 0 {
		cfg.DetectTimeout = time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if cfg.OriginalDestination == nil {
		cfg.OriginalDestination = DefaultOriginalDestination
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, metrics: m, buffers: newBufferPool(), errorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelInfo), conns: map[net.Conn]struct{}{}}
	dial := cfg.Dial
	p.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
		return dial(ctx, network, addr)
	}
	p.outbound = newOutbound(p)
	p.inbound = newInbound(p)
	return p, nil
}

// ServeOutbound serves connections redirected from the app until lis is closed.
func (p *Proxy) ServeOutbound(ctx context.Context, lis net.Listener) error {
	return p.serve(ctx, lis, p.outbound.serveConn)
}

// ServeInbound serves connections redirected to the app until lis is closed.
func (p *Proxy) ServeInbound(ctx context.Context, lis net.Listener) error {
	return p.serve(ctx, lis, p.inbound.serveConn)
}

func (p *Proxy) serve(ctx context.Context, lis net.Listener, handle func(context.Context, net.Conn)) error {
	for {
		c, err := lis.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			defer c.Close()
			handle(ctx, c)
		}()
	}
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

// open is how many connections the proxy holds.
func (p *Proxy) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Drain waits for open connections to end, up to ctx's deadline, then closes what is left.
// Call it after closing the listeners: on SIGTERM, a pod's clients finish what they started.
func (p *Proxy) Drain(ctx context.Context) {
	p.outbound.shutdown(ctx)
	p.inbound.h2base.Shutdown(ctx)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		<-done
	}
	p.outbound.close()
	p.inbound.close()
}

// AdminHandler serves /ready (a certificate is held), /live and /metrics.
func (p *Proxy) AdminHandler(gatherer prometheus.Gatherer) http.Handler {
	return adminHandler(p.cfg.Certs, gatherer)
}
