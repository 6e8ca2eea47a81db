package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"

	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Port is where the gateway listens, as DESIGN.md's names table says.
const Port = 4143

// ReasonHeader says, on every answer but 200, why the gateway refused a CONNECT. The calling
// proxy puts it in its error.
const ReasonHeader = proxy.GatewayReasonHeader

// Resolver finds the endpoints of one of the cluster's Services by its authority, host:port:
// the proxy's destination client (pkg/proxy/discovery) in a pod, proxy.StaticResolver in
// tests. A target it does not know comes back with Known false.
type Resolver interface {
	Resolve(ctx context.Context, target string) (*proxy.Destination, error)
}

// Config is a gateway's.
type Config struct {
	// Certs holds the gateway's own leaf, which callers check, and the bundle callers must
	// chain to.
	Certs    *certs.Manager
	Resolver Resolver
	// Allowed decides whether a verified caller may open tunnels: an error is the reason it
	// may not, sent back to it. AllowList.Allowed is the usual one. Required: a gateway with
	// no allow list would be open to every cluster of the trust root.
	Allowed func(trust.ID) error
	// ClusterOf names a caller's cluster in logs and metrics: DefaultClusterOf unless set
	// (AllowList.ClusterOf uses the list's names).
	ClusterOf func(trust.ID) string
	// ClusterDomain is the DNS domain of the cluster's Services: cluster.local unless set.
	ClusterDomain string
	Log           *slog.Logger
	Metrics       prometheus.Registerer
	// HandshakeTimeout bounds a caller's TLS handshake; DialTimeout a connection to a pod.
	HandshakeTimeout, DialTimeout time.Duration
	// Dial opens connections to pods: a plain net.Dialer unless a test sets it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Gateway is one east-west gateway.
type Gateway struct {
	cfg     Config
	tls     *tls.Config
	metrics *metrics
	h2      *http2.Server
	h2base  *http.Server // its Shutdown sends GOAWAY on every session

	draining atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// New checks cfg and returns a gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Certs == nil || cfg.Resolver == nil || cfg.Log == nil {
		return nil, errors.New("gateway needs certificates, a resolver and a logger")
	}
	if cfg.Allowed == nil {
		return nil, errors.New("gateway needs an allow list of remote clusters")
	}
	if cfg.ClusterOf == nil {
		cfg.ClusterOf = DefaultClusterOf
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = DefaultClusterDomain
	}
	if err := validateClusterDomain(cfg.ClusterDomain); err != nil {
		return nil, fmt.Errorf("cluster domain: %w", err)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: cfg, tls: cfg.Certs.GatewayServerConfig(), metrics: m, conns: map[net.Conn]struct{}{},
		h2: &http2.Server{
			MaxConcurrentStreams: 1000,
			// A tunnel may carry bulk: room for it to flow while the pod reads.
			MaxUploadBufferPerStream:     4 << 20,
			MaxUploadBufferPerConnection: 16 << 20,
		},
		h2base: &http.Server{},
	}
	if err := http2.ConfigureServer(g.h2base, g.h2); err != nil {
		return nil, err
	}
	return g, nil
}

// Serve serves callers from other clusters until lis is closed.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
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
		g.track(c, true)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer g.track(c, false)
			defer c.Close()
			g.serveConn(ctx, c)
		}()
	}
}

func (g *Gateway) track(c net.Conn, add bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if add {
		g.conns[c] = struct{}{}
	} else {
		delete(g.conns, c)
	}
}

// Drain refuses new tunnels, tells every caller to open no more streams on its session
// (GOAWAY), waits for the tunnels under way to end up to ctx's deadline, then closes what is
// left. Call it after closing the listener.
func (g *Gateway) Drain(ctx context.Context) {
	g.draining.Store(true)
	g.h2base.Shutdown(ctx)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		g.mu.Lock()
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		<-done
	}
}

// AdminHandler serves /ready (a leaf is held), /live and /metrics.
func (g *Gateway) AdminHandler(gatherer prometheus.Gatherer) http.Handler {
	return proxy.NewAdminHandler(g.cfg.Certs, gatherer)
}

// session is one caller's outer mTLS session.
type session struct {
	peer     trust.ID
	cluster  string
	allowErr error
	from     string
}

type sessionKey struct{}

func (g *Gateway) serveConn(ctx context.Context, c net.Conn) {
	from := c.RemoteAddr().String()
	tc := tls.Server(c, g.tls)
	hctx, cancel := context.WithTimeout(ctx, g.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		reason := ReasonHandshake
		if errors.As(err, new(certs.ErrUntrustedPeer)) {
			reason = ReasonUntrusted
		}
		g.metrics.refused.WithLabelValues("", reason).Inc()
		g.cfg.Log.Info("gateway refused a caller", "from", from, "reason", reason, "error", err)
		return
	}
	peer, err := certs.PeerID(tc.ConnectionState())
	if err != nil || peer == nil {
		// The handshake verified a chain to the bundle, so this is a certificate without
		// one SPIFFE ID: refused as untrusted.
		g.metrics.refused.WithLabelValues("", ReasonUntrusted).Inc()
		g.cfg.Log.Info("gateway refused a caller", "from", from, "reason", ReasonUntrusted, "error", err)
		return
	}
	s := &session{peer: *peer, cluster: g.cfg.ClusterOf(*peer), allowErr: g.cfg.Allowed(*peer), from: from}
	if s.allowErr != nil {
		// Still served, so that each CONNECT gets the reason: a TLS alert would say nothing.
		g.cfg.Log.Info("gateway caller not allowed", "from", from, "client", peer.String(), "cluster", s.cluster, "reason", s.allowErr)
	}
	sessions := g.metrics.sessions.WithLabelValues(s.cluster)
	sessions.Inc()
	defer sessions.Dec()
	g.h2.ServeConn(proxy.BatchWrites(tc), &http2.ServeConnOpts{
		Context:    context.WithValue(ctx, sessionKey{}, s),
		Handler:    g,
		BaseConfig: g.h2base,
	})
}

// ServeHTTP answers one CONNECT: a tunnel to a ready pod of the Service it names.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := r.Context().Value(sessionKey{}).(*session)
	if s.allowErr != nil {
		g.refuse(w, r, s, http.StatusForbidden, ReasonNotAllowed, s.allowErr.Error())
		return
	}
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		g.refuse(w, r, s, http.StatusMethodNotAllowed, ReasonMethod, "the gateway answers CONNECT only, not "+r.Method)
		return
	}
	if g.draining.Load() {
		g.refuse(w, r, s, http.StatusServiceUnavailable, ReasonShuttingDown, "the gateway is shutting down")
		return
	}
	auth, err := ParseAuthority(r.Host, g.cfg.ClusterDomain)
	if err != nil {
		g.refuse(w, r, s, http.StatusBadRequest, ReasonBadAuthority, err.Error())
		return
	}
	target := auth.String()
	d, err := g.cfg.Resolver.Resolve(r.Context(), target)
	if err != nil {
		g.refuse(w, r, s, http.StatusServiceUnavailable, ReasonResolve, fmt.Sprintf("resolving %s: %v", target, err))
		return
	}
	if !d.Known() {
		g.refuse(w, r, s, http.StatusNotFound, ReasonUnknown, fmt.Sprintf("no Service %s in the mesh of this cluster", target))
		return
	}
	h, err := d.Endpoints.Pick()
	if err != nil {
		g.refuse(w, r, s, http.StatusServiceUnavailable, ReasonNoEndpoints, fmt.Sprintf("%s has no ready endpoint", target))
		return
	}
	ep := h.Value
	if ep.Identity == nil || ep.Gateway != nil {
		// Never an open relay: only to a meshed pod of this cluster, whose proxy terminates
		// the caller's own mTLS.
		h.Done(false)
		g.refuse(w, r, s, http.StatusForbidden, ReasonNotMeshed, fmt.Sprintf("endpoint %s of %s is not a meshed pod of this cluster", ep.Addr, target))
		return
	}
	dctx, cancel := context.WithTimeout(r.Context(), g.cfg.DialTimeout)
	up, err := g.cfg.Dial(dctx, "tcp", ep.Addr.String())
	cancel()
	h.Done(err != nil)
	if err != nil {
		g.refuse(w, r, s, http.StatusBadGateway, ReasonDial, fmt.Sprintf("endpoint %s of %s: %v", ep.Addr, target, err))
		return
	}
	defer up.Close()
	rc := http.NewResponseController(w)
	w.Header().Set(proxy.GatewayEndpointIdentityHeader, ep.Identity.String())
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	g.cfg.Log.Debug("tunnel open", "client", s.peer.String(), "cluster", s.cluster, "authority", target, "endpoint", ep.Addr.String())
	g.metrics.tunnels.WithLabelValues(s.cluster).Inc()
	open := g.metrics.tunnelsOpen.WithLabelValues(s.cluster)
	open.Inc()
	defer open.Dec()
	g.relay(r.Body, &flushWriter{w: w, rc: rc}, up,
		g.metrics.bytes.WithLabelValues(s.cluster, "in"), g.metrics.bytes.WithLabelValues(s.cluster, "out"))
}

// relay copies the tunnel both ways, never looking at what it carries. The caller ending its
// stream half-closes the pod connection; the pod closing its connection ends the tunnel.
func (g *Gateway) relay(body io.ReadCloser, w io.Writer, up net.Conn, in, out prometheus.Counter) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := io.Copy(&countWriter{w: up, c: in}, body)
		if err != nil {
			// The caller reset the stream: the pod loses its connection too.
			up.Close()
			return
		}
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			up.Close()
		}
	}()
	io.Copy(&countWriter{w: w, c: out}, up)
	// The pod is done (or the caller is gone): nothing more can reach it.
	up.Close()
	body.Close()
	<-done
}

func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, s *session, code int, reason, msg string) {
	g.metrics.refused.WithLabelValues(s.cluster, reason).Inc()
	g.cfg.Log.Info("gateway refused a tunnel", "client", s.peer.String(), "cluster", s.cluster, "from", s.from,
		"authority", r.Host, "code", code, "reason", reason, "error", msg)
	w.Header().Set(ReasonHeader, msg)
	w.WriteHeader(code)
}

// flushWriter sends every write at once: a tunnel carries a conversation, not a document.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}

type countWriter struct {
	w io.Writer
	c prometheus.Counter
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.c.Add(float64(n))
	return n, err
}
