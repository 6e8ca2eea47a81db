package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/meshfed/meshfed/internal/netnstest"
	"github.com/meshfed/meshfed/internal/testenv"
	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/proxy/discovery"
	"github.com/meshfed/meshfed/pkg/proxy/iptables"
	"github.com/meshfed/meshfed/pkg/trust"
)

// The test here is the data path as a pod has it: two network namespaces ("client" and
// "server" pods) joined by a veth, the real iptables rules of `proxy init` in both, a proxy
// in each, and apps that know nothing of the mesh. Each proxy makes its own connections
// inside its namespace as the proxy's UID, so iptables lets them through as it would the
// sidecar's. The destination service is a gRPC server in the test that answers from a table.

const (
	proxyUID   = 2102
	clientAddr = "198.18.251.1"
	serverAddr = "198.18.251.2"
	domain     = "west.meshfed.local"
)

var (
	webID = trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "web"}
	apiID = trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "api"}
)

// destinations is a Destination service answering from a fixed table, then holding the
// stream open as the real one does.
type destinations struct {
	destinationv1.UnimplementedDestinationServer
	table map[string][]*destinationv1.Endpoint
}

func (d *destinations) Get(req *destinationv1.GetDestination, stream destinationv1.Destination_GetServer) error {
	key := req.GetAuthority()
	if a := req.GetAddress(); a != nil {
		ip, _ := netip.AddrFromSlice(a.GetIp())
		key = netip.AddrPortFrom(ip, uint16(a.GetPort())).String()
	}
	eps, ok := d.table[key]
	u := &destinationv1.Update{Update: &destinationv1.Update_NoEndpoints{NoEndpoints: &destinationv1.NoEndpoints{Exists: false}}}
	if ok {
		u = &destinationv1.Update{Update: &destinationv1.Update_Add{Add: &destinationv1.Add{Endpoints: eps}}}
	}
	if err := stream.Send(u); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

type leafMaker struct{ issuer *trust.CA }

func (l leafMaker) leaf(id trust.ID) (*identityclient.Leaf, error) {
	leaf, key, err := l.issuer.IssueLeaf(id, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	return &identityclient.Leaf{Key: key, Certificate: leaf, Intermediates: []*x509.Certificate{l.issuer.Cert}}, nil
}

// wireTap records what crosses the server pod's inbound listener, both ways.
type wireTap struct {
	net.Listener
	mu    sync.Mutex
	conns []*tappedConn
}

type tappedConn struct {
	net.Conn
	mu      sync.Mutex
	in, out bytes.Buffer
}

func (c *tappedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.in.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tappedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.out.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tappedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (w *wireTap) Accept() (net.Conn, error) {
	c, err := w.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tappedConn{Conn: c}
	w.mu.Lock()
	w.conns = append(w.conns, tc)
	w.mu.Unlock()
	return tc, nil
}

// The tapped connection hides the TCP connection from SO_ORIGINAL_DST: ask the one inside.
func originalDst(c net.Conn) (netip.AddrPort, error) {
	if tc, ok := c.(*tappedConn); ok {
		c = tc.Conn
	}
	return proxy.DefaultOriginalDestination(c)
}

// mesh is the two pods, their proxies and apps.
type mesh struct {
	client, server *netnstest.NS
	tap            *wireTap
	webCerts       *certs.Manager
	apiCerts       *certs.Manager
	maker          leafMaker
}

func newMesh(t *testing.T) *mesh {
	netnstest.Require(t, "iptables-restore")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m := &mesh{client: netnstest.New(t), server: netnstest.New(t)}
	netnstest.Link(t, m.client, netip.MustParsePrefix(clientAddr+"/24"), m.server, netip.MustParsePrefix(serverAddr+"/24"))
	cfg := iptables.DefaultConfig()
	cfg.ProxyUID = proxyUID
	for _, ns := range []*netnstest.NS{m.client, m.server} {
		if err := ns.Do(func() error {
			_, err := iptables.Apply(ctx, cfg, iptables.Options{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now()
	anchor, err := trust.NewAnchor("netns test", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", 12*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	m.maker = leafMaker{issuer: issuer}
	bundle := trust.NewBundle(anchor.Cert)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newCerts := func(id trust.ID) *certs.Manager {
		c := certs.NewManager(id, bundle, certs.CertifierFunc(func(context.Context) (*identityclient.Leaf, error) { return m.maker.leaf(id) }), log)
		leaf, err := m.maker.leaf(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Set(leaf); err != nil {
			t.Fatal(err)
		}
		return c
	}
	m.webCerts, m.apiCerts = newCerts(webID), newCerts(apiID)

	// The destination service, reached on loopback from the test process itself.
	impostor := trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "impostor"}
	ep := func(port int, id trust.ID) []*destinationv1.Endpoint {
		return []*destinationv1.Endpoint{{
			Address:     &destinationv1.SocketAddress{Ip: netip.MustParseAddr(serverAddr).AsSlice(), Port: uint32(port)},
			TlsIdentity: id.String(), Labels: map[string]string{"workload": "api"},
		}}
	}
	table := map[string][]*destinationv1.Endpoint{
		"api.shop.svc.cluster.local:8080": ep(8080, apiID),
	}
	for _, port := range []int{8080, 8081, 8082, 8083} {
		table[fmt.Sprintf("%s:%d", serverAddr, port)] = ep(port, apiID)
	}
	table["impostor.shop.svc.cluster.local:8080"] = ep(8080, impostor)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	destinationv1.RegisterDestinationServer(g, &destinations{table: table})
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	start := func(ns *netnstest.NS, c *certs.Manager, workload string, tap bool) {
		p, err := proxy.New(proxy.Config{
			Certs: c, Log: log, Workload: workload,
			Resolver:            discovery.New(ctx, destinationv1.NewDestinationClient(conn), "shop", c.ID(), log),
			OriginalDestination: originalDst,
			Dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return ns.Dial(ctx, proxyUID, addr)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		out := ns.Listen(t, fmt.Sprintf("127.0.0.1:%d", proxy.OutboundPort))
		var in net.Listener = ns.Listen(t, fmt.Sprintf(":%d", proxy.InboundPort))
		if tap {
			m.tap = &wireTap{Listener: in}
			in = m.tap
		}
		go p.ServeOutbound(ctx, out)
		go p.ServeInbound(ctx, in)
		t.Cleanup(func() {
			out.Close()
			in.Close()
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer dcancel()
			p.Drain(dctx)
		})
	}
	start(m.client, m.webCerts, "web", false)
	start(m.server, m.apiCerts, "api", true)
	m.serveApps(t)
	return m
}

// serveApps starts the server pod's apps: HTTP/1.1 on 8080, HTTP/2 (cleartext) on 8081,
// gRPC on 8082, a line echo on 8083. The HTTP apps say which protocol they were spoken and
// who the mesh says the client is.
func (m *mesh) serveApps(t *testing.T) {
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s client=%s", r.Proto, r.Header.Get(proxy.ClientIDHeader))
	})
	h1 := &http.Server{Handler: who}
	go h1.Serve(m.server.Listen(t, ":8080"))
	t.Cleanup(func() { h1.Close() })
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Server{Handler: who, Protocols: protocols}
	go h2.Serve(m.server.Listen(t, ":8081"))
	t.Cleanup(func() { h2.Close() })
	// The gRPC app answers with who the mesh says the client is, in a response header.
	g := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		grpc.SetHeader(ctx, metadata.Pairs("seen-client-id", strings.Join(md.Get(proxy.ClientIDHeader), ",")))
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(g, health.NewServer())
	go g.Serve(m.server.Listen(t, ":8082"))
	t.Cleanup(g.Stop)
	echo := m.server.Listen(t, ":8083")
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					fmt.Fprintf(c, "echo %s", line)
				}
			}()
		}
	}()
}

// dial connects from the client pod as its app does: as an ordinary UID, so iptables sends
// it to the proxy. Names are the server's address, as a cluster's DNS would say: the test
// asks no resolver.
func (m *mesh) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err != nil {
		addr = net.JoinHostPort(serverAddr, port)
	}
	return m.client.Dial(ctx, 1000, addr)
}

func (m *mesh) httpClient(h2c bool) *http.Client {
	if h2c {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) { return m.dial(ctx, n, a) }}}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: m.dial}}
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestMeshInNetworkNamespaces(t *testing.T) {
	m := newMesh(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("HTTP/1.1 by address and by name, the server sees the client's identity", func(t *testing.T) {
		for _, url := range []string{"http://" + serverAddr + ":8080/", "http://api.shop.svc.cluster.local:8080/"} {
			code, body, _ := get(t, m.httpClient(false), url)
			if want := "HTTP/1.1 client=" + webID.String(); code != 200 || body != want {
				t.Errorf("GET %s: %d %q; want 200 %q", url, code, body, want)
			}
		}
	})

	t.Run("HTTP/2", func(t *testing.T) {
		code, body, _ := get(t, m.httpClient(true), "http://"+serverAddr+":8081/")
		if want := "HTTP/2.0 client=" + webID.String(); code != 200 || body != want {
			t.Errorf("%d %q; want 200 %q", code, body, want)
		}
	})

	t.Run("gRPC", func(t *testing.T) {
		conn, err := grpc.NewClient(serverAddr+":8082", grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return m.dial(ctx, "tcp", addr) }))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var header metadata.MD
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health check through the mesh: %v, %v", resp, err)
		}
		if got := header.Get("seen-client-id"); len(got) != 1 || got[0] != webID.String() {
			t.Errorf("the gRPC server saw client %q; want %q", got, webID.String())
		}
	})

	t.Run("raw TCP", func(t *testing.T) {
		if got := echoLine(t, ctx, m, "hello"); got != "echo hello\n" {
			t.Errorf("echo answered %q", got)
		}
	})

	t.Run("the wire between the proxies is TLS 1.3 and carries no plaintext", func(t *testing.T) {
		m.tap.mu.Lock()
		conns := append([]*tappedConn(nil), m.tap.conns...)
		m.tap.mu.Unlock()
		if len(conns) == 0 {
			t.Fatal("no connection reached the server's proxy")
		}
		for i, c := range conns {
			c.mu.Lock()
			in, out := c.in.Bytes(), c.out.Bytes()
			c.mu.Unlock()
			if v, err := serverHelloVersion(out); err != nil || v != tls.VersionTLS13 {
				t.Errorf("connection %d: the server's first flight: version %#x, %v; want TLS 1.3", i, v, err)
			}
			for _, plain := range []string{"GET /", "hello", "client=", "HTTP/1.1"} {
				if bytes.Contains(in, []byte(plain)) || bytes.Contains(out, []byte(plain)) {
					t.Errorf("connection %d: %q crossed the wire in the clear", i, plain)
				}
			}
		}
	})

	t.Run("a server proving another identity than announced is refused", func(t *testing.T) {
		code, _, header := get(t, m.httpClient(false), "http://impostor.shop.svc.cluster.local:8080/")
		if code != http.StatusBadGateway || !strings.Contains(header.Get(proxy.ErrorHeader), "not spiffe://west.meshfed.local/ns/shop/sa/impostor") {
			t.Errorf("got %d %q; want 502 naming the identity the peer failed to prove", code, header.Get(proxy.ErrorHeader))
		}
	})

	t.Run("certificates renewed on both sides under load lose no request", func(t *testing.T) {
		var ok, failed atomic.Int64
		var lastErr atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := m.httpClient(w%2 == 1)
				port := 8080 + w%2
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var err error
					if w == 3 && i%2 == 0 {
						// New mTLS connections too, not only the multiplexed one.
						if got := echoLine(t, ctx, m, fmt.Sprint(i)); got != fmt.Sprintf("echo %d\n", i) {
							err = fmt.Errorf("echo answered %q", got)
						}
					} else {
						var resp *http.Response
						resp, err = client.Get(fmt.Sprintf("http://%s:%d/", serverAddr, port))
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 {
								err = fmt.Errorf("status %d: %s", resp.StatusCode, resp.Header.Get(proxy.ErrorHeader))
							}
						}
					}
					if err != nil {
						failed.Add(1)
						lastErr.Store(err)
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		renewals := 0
		for range 10 {
			for _, c := range []*certs.Manager{m.webCerts, m.apiCerts} {
				leaf, err := m.maker.leaf(c.ID())
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Set(leaf); err != nil {
					t.Fatal(err)
				}
				renewals++
			}
			testenv.Eventually(t, 2*time.Second, "requests between renewals", func() error {
				if n := ok.Load(); n <= int64(renewals)*20 {
					return fmt.Errorf("%d requests served", n)
				}
				return nil
			})
		}
		close(stop)
		wg.Wait()
		if failed.Load() > 0 {
			t.Fatalf("%d of %d requests failed across %d renewals; last: %v", failed.Load(), failed.Load()+ok.Load(), renewals, lastErr.Load())
		}
		t.Logf("%d requests across %d renewals, none failed", ok.Load(), renewals)
	})
}

func echoLine(t *testing.T, ctx context.Context, m *mesh, line string) string {
	c, err := m.dial(ctx, "tcp", serverAddr+":8083")
	if err != nil {
		t.Errorf("dial: %v", err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, line)
	got, _ := bufio.NewReader(c).ReadString('\n')
	return got
}

// serverHelloVersion reads the TLS version a server chose from its first flight: the
// supported_versions extension of its ServerHello (TLS 1.3), else the legacy version field.
func serverHelloVersion(b []byte) (uint16, error) {
	if len(b) < 5 || b[0] != 22 {
		return 0, fmt.Errorf("not a TLS handshake record: % x", b[:min(len(b), 5)])
	}
	rec := b[5:min(len(b), 5+int(binary.BigEndian.Uint16(b[3:5])))]
	if len(rec) < 4 || rec[0] != 2 {
		return 0, fmt.Errorf("the first handshake message is not a ServerHello")
	}
	msg := rec[4:]
	if len(msg) < 2+32+1 {
		return 0, fmt.Errorf("ServerHello too short")
	}
	legacy := binary.BigEndian.Uint16(msg)
	p := 2 + 32
	p += 1 + int(msg[p]) // session id
	p += 2 + 1           // cipher suite, compression
	if len(msg) < p+2 {
		return legacy, nil
	}
	exts := msg[p+2 : min(len(msg), p+2+int(binary.BigEndian.Uint16(msg[p:])))]
	for len(exts) >= 4 {
		typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
		if len(exts) < 4+n {
			break
		}
		if typ == 43 && n == 2 { // supported_versions
			return binary.BigEndian.Uint16(exts[4:]), nil
		}
		exts = exts[4+n:]
	}
	return legacy, nil
}
