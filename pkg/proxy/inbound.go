package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/net/http2"

	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/proxy/detect"
)

// ClientIDHeader carries, to the server app, the verified identity of the client workload;
// the proxy sets it and removes any the client sent, so the app may trust it.
const ClientIDHeader = "Meshfed-Client-Id"

type inbound struct {
	p      *Proxy
	h2     *http2.Server
	h2base *http.Server
	rp     *httputil.ReverseProxy
	plain1 *http.Transport
	plain2 *http2.Transport
}

func newInbound(p *Proxy) *inbound {
	in := &inbound{p: p, h2: &http2.Server{}, h2base: &http.Server{ErrorLog: p.errorLog}}
	http2.ConfigureServer(in.h2base, in.h2)
	// Every HTTP transport of the proxy, to apps and to peers, has DisableCompression: a proxy
	// passes Accept-Encoding and the body on as the client and the app chose them. Left to
	// itself a transport asks for gzip on the client's behalf and inflates the answer, which
	// costs the proxy CPU and turns a response of known length into a chunked one.
	in.plain1 = &http.Transport{DialContext: p.cfg.Dial, MaxIdleConnsPerHost: 100, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	in.plain2 = &http2.Transport{AllowHTTP: true, DisableCompression: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return dialBatched(ctx, p.cfg.Dial, network, addr)
	}}
	in.rp = &httputil.ReverseProxy{
		Rewrite:        in.rewrite,
		Transport:      in,
		FlushInterval:  flushInterval,
		BufferPool:     p.buffers,
		ModifyResponse: trailersOnly,
		ErrorLog:       p.errorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.cfg.Log.Info("inbound request failed", "host", r.Host, "error", err)
			w.Header().Set(ErrorHeader, err.Error())
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return in
}

func (in *inbound) close() {
	in.plain1.CloseIdleConnections()
}

func (in *inbound) serveConn(ctx context.Context, c net.Conn) {
	dst, err := in.p.cfg.OriginalDestination(c)
	if err != nil {
		in.p.cfg.Log.Warn("inbound connection without an original destination", "from", c.RemoteAddr().String(), "error", err)
		return
	}
	fromPort, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	from := fromPort.Addr().Unmap()
	proto, pc, err := detect.Detect(ctx, c, in.p.cfg.DetectTimeout)
	if err != nil {
		return
	}
	if proto != detect.TLS {
		in.plaintext(ctx, &redirected{Conn: pc, dst: dst, from: from, done: make(chan struct{})})
		return
	}
	tc := tls.Server(pc, in.p.cfg.Certs.ServerConfig())
	hctx, cancel := context.WithTimeout(ctx, in.p.cfg.DialTimeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		in.p.metrics.tlsFailure("inbound")
		in.p.cfg.Log.Info("inbound mTLS handshake failed", "from", from.String(), "error", err)
		return
	}
	cs := tc.ConnectionState()
	peer, err := certs.PeerID(cs)
	if err != nil {
		return
	}
	rc := &redirected{Conn: tc, dst: dst, from: from, peer: peer, done: make(chan struct{})}
	if ok, reason := in.p.cfg.Policy.Authorize(dst.Port(), peer, from); !ok {
		in.p.metrics.denied(dst.Port(), peer)
		in.p.cfg.Log.Info("inbound connection denied", "port", dst.Port(), "client", idString(peer), "reason", reason)
		return
	}
	switch cs.NegotiatedProtocol {
	case certs.ALPNHTTP:
		rc.Conn = newBatchedConn(tc)
		in.h2.ServeConn(rc, &http2.ServeConnOpts{Context: context.WithValue(ctx, connKey{}, rc), Handler: in, BaseConfig: in.h2base})
	case certs.ALPNOpaque:
		in.forward(ctx, rc)
	default:
		in.p.cfg.Log.Info("inbound mTLS without a protocol the proxy speaks", "alpn", cs.NegotiatedProtocol)
	}
}

// plaintext is an unmeshed client: policy decides, then the stream goes to the app as it is.
func (in *inbound) plaintext(ctx context.Context, c *redirected) {
	if ok, reason := in.p.cfg.Policy.Authorize(c.dst.Port(), nil, c.from); !ok {
		in.p.metrics.denied(c.dst.Port(), nil)
		in.p.cfg.Log.Info("inbound plaintext connection denied", "port", c.dst.Port(), "from", c.from.String(), "reason", reason)
		return
	}
	in.forward(ctx, c)
}

func (in *inbound) forward(ctx context.Context, c *redirected) {
	app := netip.AddrPortFrom(in.p.cfg.AppHost, c.dst.Port())
	up, err := in.p.cfg.Dial(ctx, "tcp", app.String())
	if err != nil {
		in.p.cfg.Log.Info("the app refused a connection", "app", app.String(), "error", err)
		return
	}
	defer up.Close()
	sides := sidesOf("inbound", in.p.cfg.Workload, Endpoint{}, c.peer)
	in.p.metrics.tcpOpen(sides)
	received, sent := pipe(c, up)
	in.p.metrics.tcpClose(sides, received, sent)
}

// ServeHTTP delivers one request from a peer proxy to the app.
func (in *inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := connOf(r.Context())
	// Policy is asked again for every request: a peer's HTTP/2 connection lives long, and a
	// policy changed meanwhile applies to what it sends next.
	if ok, reason := in.p.cfg.Policy.Authorize(c.dst.Port(), c.peer, c.from); !ok {
		in.p.metrics.denied(c.dst.Port(), c.peer)
		w.Header().Set(ErrorHeader, "denied by policy: "+reason)
		w.WriteHeader(http.StatusForbidden)
		in.p.metrics.request(sidesOf("inbound", in.p.cfg.Workload, Endpoint{}, c.peer), r.Host, http.StatusForbidden, "", time.Since(start))
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	in.rp.ServeHTTP(rec, r)
	in.p.metrics.request(sidesOf("inbound", in.p.cfg.Workload, Endpoint{}, c.peer), r.Host, rec.code(), rec.grpcStatus(), time.Since(start))
}

func (in *inbound) rewrite(pr *httputil.ProxyRequest) {
	c := connOf(pr.In.Context())
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = net.JoinHostPort(in.p.cfg.AppHost.String(), strconv.Itoa(int(c.dst.Port())))
	pr.Out.Host = pr.In.Host
	pr.Out.Header.Del(ClientIDHeader)
	if c.peer != nil {
		pr.Out.Header.Set(ClientIDHeader, c.peer.String())
	}
}

// RoundTrip speaks to the app as the client app spoke: HTTP/1.1 when the outbound proxy said
// so, else HTTP/2 in cleartext.
func (in *inbound) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get(origProtoHeader) != "" {
		req.Header.Del(origProtoHeader)
		return in.plain1.RoundTrip(req)
	}
	return in.plain2.RoundTrip(req)
}
