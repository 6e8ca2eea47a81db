package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/meshfed/meshfed/pkg/proxy/balance"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/proxy/detect"
)

// Headers between proxies. origProtoHeader tells the inbound proxy that a request came from
// the app as HTTP/1.1, so that it goes to the server app as HTTP/1.1 again; ErrorHeader says
// that an error response was the proxy's, not the app's.
const (
	origProtoHeader = "Meshfed-Orig-Proto"
	ErrorHeader     = "Meshfed-Proxy-Error"
)

type outbound struct {
	p      *Proxy
	h1     *http.Server
	h1lis  *chanListener
	h2     *http2.Server
	h2base *http.Server // its Shutdown sends GOAWAY on every HTTP/2 connection
	rp     *httputil.ReverseProxy
	plain1 *http.Transport
	plain2 *http2.Transport

	mu   sync.Mutex
	mesh map[string]*http2.Transport // by endpoint key: one multiplexed connection per peer
	// gateways are the outer sessions to other clusters' gateways, by address and identity:
	// one multiplexed connection per gateway, a CONNECT stream per tunnel.
	gateways map[string]*http2.Transport
}

type endpointKey struct{}

// picked is the endpoint chosen for a request, and what to tell the balancer when it ends.
type picked struct {
	ep     Endpoint
	handle *balance.Handle[Endpoint]
	target string
}

func newOutbound(p *Proxy) *outbound {
	o := &outbound{p: p, h1lis: newChanListener(), mesh: map[string]*http2.Transport{}, gateways: map[string]*http2.Transport{}}
	o.plain1 = &http.Transport{DialContext: p.cfg.Dial, MaxIdleConnsPerHost: 100, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	o.plain2 = &http2.Transport{AllowHTTP: true, DisableCompression: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return dialBatched(ctx, p.cfg.Dial, network, addr)
	}}
	o.rp = &httputil.ReverseProxy{
		Rewrite:        o.rewrite,
		Transport:      o,
		FlushInterval:  flushInterval,
		BufferPool:     p.buffers,
		ModifyResponse: trailersOnly,
		ErrorLog:       p.errorLog,
		ErrorHandler:   o.proxyError,
	}
	o.h1 = &http.Server{
		Handler:           o,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          p.errorLog,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go o.h1.Serve(o.h1lis)
	o.h2, o.h2base = &http2.Server{}, &http.Server{ErrorLog: p.errorLog}
	http2.ConfigureServer(o.h2base, o.h2)
	return o
}

// shutdown asks the app's connections to finish: idle HTTP/1 ones are closed, HTTP/2 ones
// get a GOAWAY. It returns once HTTP/1 connections are done or ctx ends.
func (o *outbound) shutdown(ctx context.Context) {
	o.h2base.Shutdown(ctx)
	o.h1.Shutdown(ctx)
}

func (o *outbound) close() {
	o.h1lis.Close()
	o.plain1.CloseIdleConnections()
	o.mu.Lock()
	for _, t := range o.mesh {
		t.CloseIdleConnections()
	}
	for _, t := range o.gateways {
		t.CloseIdleConnections()
	}
	o.mu.Unlock()
}

func (o *outbound) serveConn(ctx context.Context, c net.Conn) {
	dst, err := o.p.cfg.OriginalDestination(c)
	if err != nil {
		o.p.cfg.Log.Warn("outbound connection without an original destination", "from", c.RemoteAddr().String(), "error", err)
		return
	}
	proto, pc, err := detect.Detect(ctx, c, o.p.cfg.DetectTimeout)
	if err != nil {
		o.p.cfg.Log.Debug("outbound detection failed", "dst", dst.String(), "error", err)
		return
	}
	rc := &redirected{Conn: pc, dst: dst, done: make(chan struct{})}
	switch proto {
	case detect.HTTP1:
		o.h1lis.hand(ctx, rc)
	case detect.HTTP2:
		rc.Conn = newBatchedConn(newBufferedReads(pc))
		o.h2.ServeConn(rc, &http2.ServeConnOpts{
			Context:    context.WithValue(ctx, connKey{}, rc),
			Handler:    o,
			BaseConfig: o.h2base,
		})
	default:
		o.forwardOpaque(ctx, rc)
	}
}

// ServeHTTP routes one request from the app by its authority.
func (o *outbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := connOf(r.Context())
	if c == nil {
		http.Error(w, "no connection", http.StatusInternalServerError)
		return
	}
	start := time.Now()
	target := authorityTarget(r.Host, c.dst)
	d, err := o.resolve(r.Context(), target, c.dst)
	if err != nil {
		o.fail(w, r, target, http.StatusServiceUnavailable, err)
		return
	}
	var pk picked
	if d == nil {
		// Unknown to the mesh: as if there were no proxy.
		pk = picked{ep: Endpoint{Addr: c.dst}, target: target}
	} else {
		h, err := d.Endpoints.Pick()
		if err != nil {
			o.fail(w, r, target, http.StatusServiceUnavailable, errNoEndpoints{target})
			return
		}
		pk = picked{ep: h.Value, handle: h, target: target}
	}
	rec := &statusRecorder{ResponseWriter: w}
	o.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), endpointKey{}, &pk)))
	o.p.metrics.request(sidesOf("outbound", o.p.cfg.Workload, pk.ep, nil), target, rec.code(), rec.grpcStatus(), time.Since(start))
}

// resolve finds the destination of a request: by its authority, else by where the
// connection was going. nil means the mesh knows neither.
func (o *outbound) resolve(ctx context.Context, target string, dst netip.AddrPort) (*Destination, error) {
	d, err := o.p.cfg.Resolver.Resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	if d.Known() {
		return d, nil
	}
	if target != dst.String() {
		if d, err = o.p.cfg.Resolver.Resolve(ctx, dst.String()); err != nil {
			return nil, err
		}
		if d.Known() {
			return d, nil
		}
	}
	return nil, nil
}

// authorityTarget is the target to resolve for a request's Host: host:port, the port taken
// from the original destination when the Host has none.
func authorityTarget(host string, dst netip.AddrPort) string {
	if host == "" {
		return dst.String()
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(int(dst.Port())))
}

func (o *outbound) rewrite(pr *httputil.ProxyRequest) {
	pk := pr.In.Context().Value(endpointKey{}).(*picked)
	pr.Out.URL.Scheme = "http"
	if pk.ep.meshed() {
		pr.Out.URL.Scheme = "https"
		if pr.In.ProtoMajor == 1 {
			pr.Out.Header.Set(origProtoHeader, "HTTP/1.1")
		}
	}
	pr.Out.URL.Host = pk.ep.Addr.String()
	pr.Out.Host = pr.In.Host
}

// RoundTrip sends a request to its chosen endpoint: over the peer proxy's multiplexed mTLS
// connection when it has an identity, else as the app sent it.
func (o *outbound) RoundTrip(req *http.Request) (*http.Response, error) {
	pk := req.Context().Value(endpointKey{}).(*picked)
	var rt http.RoundTripper
	switch {
	case pk.ep.meshed():
		rt = o.meshTransport(pk)
	case req.ProtoMajor == 2:
		rt = o.plain2
	default:
		rt = o.plain1
	}
	resp, err := rt.RoundTrip(req)
	if pk.handle != nil {
		pk.handle.Done(err != nil || (resp != nil && resp.StatusCode >= 500))
	}
	return resp, err
}

// meshTransport is the HTTP/2 client of the picked endpoint's proxy, made on first use.
func (o *outbound) meshTransport(pk *picked) *http2.Transport {
	ep := pk.ep
	// A destination's balancer keys its endpoints by Endpoint.Key: building the key again (the
	// address's and identities' strings) would cost every request allocations.
	var key string
	if pk.handle != nil {
		key = pk.handle.Key
	} else {
		key = ep.Key()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.mesh[key]; ok {
		return t
	}
	t := &http2.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			tc, err := o.dialMesh(ctx, ep, certs.ALPNHTTP)
			if err != nil {
				return nil, err
			}
			return newBatchedConn(tc), nil
		},
		ReadIdleTimeout:    30 * time.Second,
		PingTimeout:        5 * time.Second,
		DisableCompression: true,
	}
	o.mesh[key] = t
	return t
}

// dialMesh opens mTLS to an endpoint's proxy, which must prove the endpoint's identity: over
// TCP in the cluster, in a tunnel through the gateway for an endpoint of another cluster.
func (o *outbound) dialMesh(ctx context.Context, ep Endpoint, alpn string) (*tls.Conn, error) {
	if ep.Gateway != nil {
		return o.dialViaGateway(ctx, ep, alpn)
	}
	raw, err := o.p.cfg.Dial(ctx, "tcp", ep.Addr.String())
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, o.p.cfg.Certs.ClientConfig(*ep.Identity, alpn))
	hctx, cancel := context.WithTimeout(ctx, o.p.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		o.p.metrics.tlsFailure("outbound")
		return nil, fmt.Errorf("mTLS to %s: %w", ep.Addr, err)
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != alpn {
		tc.Close()
		return nil, fmt.Errorf("mTLS to %s: the peer speaks %q, not %q", ep.Addr, got, alpn)
	}
	return tc, nil
}

func (o *outbound) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	pk := r.Context().Value(endpointKey{}).(*picked)
	o.fail(w, r, pk.target, http.StatusBadGateway, err)
}

func (o *outbound) fail(w http.ResponseWriter, r *http.Request, target string, code int, err error) {
	o.p.cfg.Log.Info("outbound request failed", "target", target, "code", code, "error", err)
	w.Header().Set(ErrorHeader, err.Error())
	// In the body too, for whoever reads only that (curl, a browser).
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, err.Error())
}

// forwardOpaque carries one TCP stream to its destination's endpoint.
func (o *outbound) forwardOpaque(ctx context.Context, c *redirected) {
	target := c.dst.String()
	d, err := o.resolve(ctx, target, c.dst)
	if err != nil {
		o.p.cfg.Log.Info("outbound connection refused", "target", target, "error", err)
		return
	}
	ep := Endpoint{Addr: c.dst}
	var h *balance.Handle[Endpoint]
	if d != nil {
		if h, err = d.Endpoints.Pick(); err != nil {
			o.p.cfg.Log.Info("outbound connection refused", "target", target, "error", errNoEndpoints{target})
			return
		}
		ep = h.Value
	}
	var up net.Conn
	if ep.meshed() {
		up, err = o.dialMesh(ctx, ep, certs.ALPNOpaque)
	} else {
		up, err = o.p.cfg.Dial(ctx, "tcp", ep.Addr.String())
	}
	if h != nil {
		h.Done(err != nil)
	}
	if err != nil {
		o.p.cfg.Log.Info("outbound connection failed", "target", target, "endpoint", ep.Addr.String(), "error", err)
		return
	}
	defer up.Close()
	sides := sidesOf("outbound", o.p.cfg.Workload, ep, nil)
	o.p.metrics.tcpOpen(sides)
	sent, received := pipe(c, up)
	o.p.metrics.tcpClose(sides, received, sent)
}

// statusRecorder remembers the status code written, for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the writer's own features (trailers, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// grpcStatus is the response's grpc-status once it is served: a trailer, which
// ReverseProxy writes into the header map (under http.TrailerPrefix when it was not
// announced), or a header of a trailers-only response. Empty for other HTTP.
func (s *statusRecorder) grpcStatus() string {
	h := s.ResponseWriter.Header()
	if v := h.Get("Grpc-Status"); v != "" {
		return v
	}
	return h.Get(http.TrailerPrefix + "Grpc-Status")
}

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
