package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"

	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// The tests here wire two clusters in one process, on loopback: one anchor, an issuer for
// each of west and east (and north, a member of the trust root that east does not allow); in
// west a client proxy whose destination names an endpoint behind east's gateway; in east the
// gateway and a server proxy's inbound in front of the apps. Without iptables, each proxy is
// told where its connections were going, as in package proxy's tests.

var (
	westWeb   = trust.ID{TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "web"}
	westOther = trust.ID{TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "other"}
	northWeb  = trust.ID{TrustDomain: "north.meshfed.local", Namespace: "shop", ServiceAccount: "web"}
	eastAPI   = trust.ID{TrustDomain: "east.meshfed.local", Namespace: "shop", ServiceAccount: "api"}
	eastGW    = trust.ID{TrustDomain: "east.meshfed.local", Namespace: "mesh-multicluster", ServiceAccount: "meshfed-gateway"}
)

const (
	apiAuthority  = "api.shop.svc.cluster.local:8080"
	tcpAuthority  = "tcp.shop.svc.cluster.local:7000"
	noneAuthority = "nope.shop.svc.cluster.local:8080"
	marker        = "secret-plaintext-marker"
)

type pki struct {
	bundle  *trust.Bundle
	issuers map[string]*trust.CA // by trust domain
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	now := time.Now()
	anchor, err := trust.NewAnchor("federation", 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{bundle: trust.NewBundle(anchor.Cert), issuers: map[string]*trust.CA{}}
	for _, cluster := range []string{"west", "east", "north"} {
		issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName(cluster), 24*time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		p.issuers[trust.DefaultTrustDomain(cluster)] = issuer
	}
	return p
}

// manager holds a leaf for id, signed by its cluster's issuer.
func (p *pki) manager(t testing.TB, id trust.ID) *certs.Manager {
	t.Helper()
	issuer := p.issuers[id.TrustDomain]
	certify := certs.CertifierFunc(func(context.Context) (*identityclient.Leaf, error) {
		leaf, key, err := issuer.IssueLeaf(id, time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		return &identityclient.Leaf{Key: key, Certificate: leaf, Intermediates: []*x509.Certificate{issuer.Cert}}, nil
	})
	m := certs.NewManager(id, p.bundle, certify, quietLog())
	leaf, err := certify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(leaf); err != nil {
		t.Fatal(err)
	}
	return m
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func addrOf(l net.Listener) netip.AddrPort { return netip.MustParseAddrPort(l.Addr().String()) }

// byListener is an OriginalDestination: where connections to each listener were going.
type byListener map[string]netip.AddrPort

func (b byListener) dst(c net.Conn) (netip.AddrPort, error) {
	d, ok := b[c.LocalAddr().String()]
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no destination for %s", c.LocalAddr())
	}
	return d, nil
}

// authorizer is the east server proxy's policy: it records every client it is asked about.
type authorizer struct {
	mu    sync.Mutex
	seen  []trust.ID
	allow trust.ID
}

func (a *authorizer) Authorize(_ uint16, client *trust.ID, _ netip.Addr) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if client == nil {
		return false, "plaintext"
	}
	a.seen = append(a.seen, *client)
	if *client != a.allow {
		return false, "only " + a.allow.String() + " may call"
	}
	return true, "allowed"
}

func (a *authorizer) clients() []trust.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]trust.ID(nil), a.seen...)
}

// tapped records the first bytes each way of every connection it wraps.
type tapped struct {
	mu    sync.Mutex
	conns []*tapConn
}

const tapLimit = 16 << 10

type tapConn struct {
	net.Conn
	mu             sync.Mutex
	written, readb []byte
}

func (t *tapped) wrap(c net.Conn) net.Conn {
	tc := &tapConn{Conn: c}
	t.mu.Lock()
	t.conns = append(t.conns, tc)
	t.mu.Unlock()
	return tc
}

func (c *tapConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if room := tapLimit - len(c.written); room > 0 {
		c.written = append(c.written, b[:min(room, len(b))]...)
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if room := tapLimit - len(c.readb); room > 0 {
		c.readb = append(c.readb, b[:min(room, n)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *tapConn) bytes() (written, read []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written), bytes.Clone(c.readb)
}

func (t *tapped) all() []*tapConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*tapConn(nil), t.conns...)
}

type tapListener struct {
	net.Listener
	tap *tapped
}

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.tap.wrap(c), nil
}

// federation is west's client side and east's gateway, server proxy and apps.
type federation struct {
	pki       *pki
	gateway   netip.AddrPort
	policy    *authorizer
	toPods    *tapped // what the gateway sends pods and gets back
	outer     *tapped // what the gateway's listener sends callers and gets from them
	gwMetrics *prometheus.Registry
	httpApp   net.Listener
	reached   chan string // each request's path the east app served
}

func newFederation(t *testing.T) *federation {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &federation{pki: newPKI(t), policy: &authorizer{allow: westWeb}, toPods: &tapped{}, outer: &tapped{},
		gwMetrics: prometheus.NewRegistry(), reached: make(chan string, 100)}

	// East's apps: HTTP that says who called, and a server-speaks-first TCP echo.
	f.httpApp = listen(t)
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.reached <- r.URL.Path
		fmt.Fprintf(w, "%s %s client=%s", r.Proto, r.URL.Path, r.Header.Get(proxy.ClientIDHeader))
	})}
	app.Protocols = new(http.Protocols)
	app.Protocols.SetHTTP1(true)
	app.Protocols.SetUnencryptedHTTP2(true)
	go app.Serve(f.httpApp)
	t.Cleanup(func() { app.Close() })
	tcpApp := listen(t)
	go serveGreeter(tcpApp)

	// East's server proxy: an inbound listener per app port.
	inHTTP, inTCP := listen(t), listen(t)
	server, err := proxy.New(proxy.Config{
		Certs: f.pki.manager(t, eastAPI), Resolver: proxy.StaticResolver{}, Log: quietLog(), Workload: "api", Policy: f.policy,
		OriginalDestination: byListener{inHTTP.Addr().String(): addrOf(f.httpApp), inTCP.Addr().String(): addrOf(tcpApp)}.dst,
	})
	if err != nil {
		t.Fatal(err)
	}
	go server.ServeInbound(ctx, inHTTP)
	go server.ServeInbound(ctx, inTCP)

	// East's gateway: its destination service knows api and tcp, at the server proxy.
	gwLis := listen(t)
	f.gateway = addrOf(gwLis)
	allow, err := gateway.ParseAllowList([]string{"west"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		Certs: f.pki.manager(t, eastGW), Log: quietLog(), Metrics: f.gwMetrics,
		Resolver: proxy.StaticResolver{
			apiAuthority: {{Addr: addrOf(inHTTP), Identity: &eastAPI}},
			tcpAuthority: {{Addr: addrOf(inTCP), Identity: &eastAPI}},
		},
		Allowed: allow.Allowed, ClusterOf: allow.ClusterOf,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return f.toPods.wrap(c), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go gw.Serve(ctx, tapListener{Listener: gwLis, tap: f.outer})
	t.Cleanup(func() {
		gwLis.Close()
		inHTTP.Close()
		inTCP.Close()
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		gw.Drain(dctx)
		server.Drain(dctx)
	})
	return f
}

func serveGreeter(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			fmt.Fprintln(c, "220 hello")
			line := make([]byte, 64)
			n, _ := c.Read(line)
			fmt.Fprintf(c, "echo %s", line[:n])
		}()
	}
}

// westClient is a client proxy of west (or of another cluster) whose outbound listeners send
// HTTP and TCP to east's api and tcp Services through the gateway.
type westClient struct {
	http, tcp net.Listener
	metrics   *prometheus.Registry
}

// hop is the endpoint west's destination service announces for a mirror of an east service:
// no identity of its own, so the inner session must prove what the gateway names.
func (f *federation) hop(authority string) proxy.Endpoint {
	return proxy.Endpoint{
		Addr:    f.gateway,
		Gateway: &proxy.GatewayHop{Identity: eastGW, Authority: authority, Cluster: "east"},
	}
}

// pinnedHop is hop with the remote identity the destination service expects.
func (f *federation) pinnedHop(authority string, id trust.ID) proxy.Endpoint {
	ep := f.hop(authority)
	ep.Identity = &id
	return ep
}

// client starts a client proxy proving id. Its HTTP requests for host <svc>-east go to
// east's <svc> (api, nope); its TCP connections go to east's tcp.
func (f *federation) client(t *testing.T, id trust.ID) *westClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &westClient{http: listen(t), tcp: listen(t), metrics: prometheus.NewRegistry()}
	// Where the app's connections were going: mirrored Services' addresses, never dialed.
	httpDst, tcpDst := netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("127.0.0.1:7000")
	p, err := proxy.New(proxy.Config{
		Certs: f.pki.manager(t, id), Log: quietLog(), Workload: "web", Metrics: c.metrics,
		Resolver: proxy.StaticResolver{
			"api-east.shop.svc.cluster.local:8080":    {f.hop(apiAuthority)},
			"pinned-east.shop.svc.cluster.local:8080": {f.pinnedHop(apiAuthority, eastAPI)},
			"wrong-east.shop.svc.cluster.local:8080":  {f.pinnedHop(apiAuthority, eastGW)},
			"nope-east.shop.svc.cluster.local:8080":   {f.hop(noneAuthority)},
			"bad-east.shop.svc.cluster.local:8080":    {f.hop("10.0.0.1:8080")},
			tcpDst.String():                           {f.hop(tcpAuthority)},
		},
		OriginalDestination: byListener{c.http.Addr().String(): httpDst, c.tcp.Addr().String(): tcpDst}.dst,
		DetectTimeout:       100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	go p.ServeOutbound(ctx, c.http)
	go p.ServeOutbound(ctx, c.tcp)
	t.Cleanup(func() {
		c.http.Close()
		c.tcp.Close()
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		p.Drain(dctx)
	})
	return c
}

// get sends one request from the west app through its proxy.
func (c *westClient) get(t *testing.T, h2c bool, url string) (int, http.Header, string) {
	t.Helper()
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", c.http.Addr().String())
	}
	var rt http.RoundTripper = &http.Transport{DialContext: dial}
	if h2c {
		rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) {
			return dial(ctx, n, a)
		}}
	}
	client := &http.Client{Transport: rt, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}
