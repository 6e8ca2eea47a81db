package proxy

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// The tests here run both proxies of a conversation on loopback, with real mTLS between
// them. Without iptables, each proxy is told where its connections were going: the client's
// outbound that it was going to the server's app address, the server's inbound that it was
// for the app's port. The iptables path is tested in package iptables and in the netns test.

const domain = "west.meshfed.local"

var (
	clientID = trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "web"}
	serverID = trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "api"}
)

type testPKI struct {
	anchor, issuer *trust.CA
	bundle         *trust.Bundle
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	now := time.Now()
	anchor, err := trust.NewAnchor("test", 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{anchor: anchor, issuer: issuer, bundle: trust.NewBundle(anchor.Cert)}
}

// certifier signs leaves directly: the identity service has its own tests.
func (p *testPKI) certifier(id trust.ID, ttl time.Duration) certs.Certifier {
	return certs.CertifierFunc(func(context.Context) (*identityclient.Leaf, error) {
		leaf, key, err := p.issuer.IssueLeaf(id, ttl, time.Now())
		if err != nil {
			return nil, err
		}
		return &identityclient.Leaf{Key: key, Certificate: leaf, Intermediates: []*x509.Certificate{p.issuer.Cert}}, nil
	})
}

func (p *testPKI) manager(t testing.TB, id trust.ID) *certs.Manager {
	t.Helper()
	m := certs.NewManager(id, p.bundle, p.certifier(id, time.Hour), quietLog())
	leaf, err := p.certifier(id, time.Hour).Certify(context.Background())
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

// pair is a client proxy's outbound and a server proxy's inbound in front of an app.
type pair struct {
	outbound net.Listener // what the client app dials, as iptables would send it there
	inbound  netip.AddrPort
	server   *Proxy
	client   *Proxy
}

// newPair starts both proxies. appPort is the app's port on loopback; serverIdentity is what
// the destination service says the server must prove.
func newPair(t testing.TB, pki *testPKI, appPort uint16, announced trust.ID, serverCerts *certs.Manager) *pair {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	in := listen(t)
	server, err := New(Config{
		Certs: serverCerts, Resolver: StaticResolver{}, Log: quietLog(), Workload: "api",
		OriginalDestination: func(net.Conn) (netip.AddrPort, error) {
			return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), appPort), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go server.ServeInbound(ctx, in)

	// The app's address as the client dials it: the service's, which the destination
	// service resolves to the server proxy.
	svc := netip.MustParseAddrPort(fmt.Sprintf("198.18.200.1:%d", appPort))
	resolver := StaticResolver{
		svc.String(): {{Addr: addrOf(in), Identity: &announced, Labels: map[string]string{"workload": "api"}}},
		fmt.Sprintf("api.shop.svc.cluster.local:%d", appPort): {{Addr: addrOf(in), Identity: &announced}},
	}
	client, err := New(Config{
		Certs: pki.manager(t, clientID), Resolver: resolver, Log: quietLog(), Workload: "web",
		OriginalDestination: func(net.Conn) (netip.AddrPort, error) { return svc, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	out := listen(t)
	go client.ServeOutbound(ctx, out)
	t.Cleanup(func() {
		out.Close()
		in.Close()
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		client.Drain(dctx)
		server.Drain(dctx)
	})
	return &pair{outbound: out, inbound: addrOf(in), server: server, client: client}
}

// httpApp answers with the protocol it was spoken to in and the client identity header.
func httpApp(t testing.TB, h2c bool) net.Listener {
	t.Helper()
	return serveApp(t, h2c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s client=%s", r.Proto, r.Host, r.Header.Get(ClientIDHeader))
	}))
}

// serveApp serves h on loopback: HTTP/1.1, and HTTP/2 in cleartext as well when h2c.
func serveApp(t testing.TB, h2c bool, h http.Handler) net.Listener {
	t.Helper()
	l := listen(t)
	srv := &http.Server{Handler: h}
	if h2c {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = p
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}

// dialThrough returns an HTTP client whose every connection goes to the client proxy's
// outbound listener, as iptables would send the app's.
func dialThrough(p *pair, h2c bool) *http.Client {
	return dialTo(p.outbound.Addr().String(), h2c)
}

func TestHTTPThroughMTLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, tt := range []struct {
		name string
		h2c  bool
		want string
	}{
		{"HTTP/1.1", false, "HTTP/1.1"},
		{"HTTP/2 prior knowledge", true, "HTTP/2.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := httpApp(t, tt.h2c)
			port := addrOf(app).Port()
			p := newPair(t, pki, port, serverID, pki.manager(t, serverID))
			client := dialThrough(p, tt.h2c)
			for _, host := range []string{fmt.Sprintf("198.18.200.1:%d", port), fmt.Sprintf("api.shop.svc.cluster.local:%d", port)} {
				resp, err := client.Get("http://" + host + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := fmt.Sprintf("%s %s client=%s", tt.want, host, clientID)
				if resp.StatusCode != 200 || string(body) != want {
					t.Errorf("GET %s: %d %q; want 200 %q", host, resp.StatusCode, body, want)
				}
			}
		})
	}
}

func TestGRPCThroughMTLS(t *testing.T) {
	pki := newTestPKI(t)
	app := listen(t)
	g := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	go g.Serve(app)
	t.Cleanup(g.Stop)
	p := newPair(t, pki, addrOf(app).Port(), serverID, pki.manager(t, serverID))

	conn, err := grpc.NewClient(fmt.Sprintf("198.18.200.1:%d", addrOf(app).Port()),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", p.outbound.Addr().String())
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "api"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC through the proxies: %v, %v", resp, err)
	}
	// A status in the trailers, not the headers, comes through too.
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("an unknown service: %v; want NotFound", err)
	}
}

func TestOpaqueTCPThroughMTLS(t *testing.T) {
	pki := newTestPKI(t)
	// A server-speaks-first protocol: the client says nothing until greeted.
	app := listen(t)
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintln(c, "220 hello")
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "echo %s", line)
			}()
		}
	}()
	p := newPair(t, pki, addrOf(app).Port(), serverID, pki.manager(t, serverID))
	c, err := net.DialTimeout("tcp", p.outbound.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	if err != nil || greeting != "220 hello\n" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	fmt.Fprintln(c, "ping")
	if line, err := r.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
	c.Close()

	// Each side counts the stream with who was on both ends, as the request metrics do.
	closed := func(p *Proxy, labels ...string) func() error {
		return func() error {
			if n := testutil.ToFloat64(p.metrics.tcpCloses.WithLabelValues(labels...)); n != 1 {
				return fmt.Errorf("meshfed_proxy_tcp_close_total%q = %v, want 1", labels, n)
			}
			return nil
		}
	}
	testenv.Eventually(t, 10*time.Second, "the client proxy to count the stream", closed(p.client, "outbound", "web", "api", "", serverID.String(), "", "true"))
	testenv.Eventually(t, 10*time.Second, "the server proxy to count the stream", closed(p.server, "inbound", "", "api", clientID.String(), "", "", "true"))
}

// A server proxy that proves another identity than the destination service announced is
// refused: the request fails and never reaches the app.
func TestWrongServerIdentityRefused(t *testing.T) {
	pki := newTestPKI(t)
	reached := false
	app := listen(t)
	go http.Serve(app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	impostor := trust.ID{TrustDomain: domain, Namespace: "shop", ServiceAccount: "impostor"}
	p := newPair(t, pki, addrOf(app).Port(), serverID, pki.manager(t, impostor))
	resp, err := dialThrough(p, false).Get(fmt.Sprintf("http://198.18.200.1:%d/", addrOf(app).Port()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(resp.Header.Get(ErrorHeader), "not "+serverID.String()) {
		t.Errorf("got %d %q; want 502 saying the peer is not %s", resp.StatusCode, resp.Header.Get(ErrorHeader), serverID)
	}
	if reached {
		t.Error("the request reached the app behind the impostor")
	}
}

// A server proxy whose certificate comes from another anchor is refused too.
func TestForeignAnchorRefused(t *testing.T) {
	pki, stranger := newTestPKI(t), newTestPKI(t)
	app := httpApp(t, false)
	serverCerts := certs.NewManager(serverID, stranger.bundle, stranger.certifier(serverID, time.Hour), quietLog())
	leaf, err := stranger.certifier(serverID, time.Hour).Certify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := serverCerts.Set(leaf); err != nil {
		t.Fatal(err)
	}
	p := newPair(t, pki, addrOf(app).Port(), serverID, serverCerts)
	resp, err := dialThrough(p, false).Get(fmt.Sprintf("http://198.18.200.1:%d/", addrOf(app).Port()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a server from another anchor: %d; want 502", resp.StatusCode)
	}
}

// The proxies pass Accept-Encoding on as the client sent it: they must not ask the app for
// gzip on the client's behalf (and inflate the answer themselves).
func TestAcceptEncodingPassedOn(t *testing.T) {
	pki := newTestPKI(t)
	for _, h2c := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2c=%v", h2c), func(t *testing.T) {
			l := serveApp(t, h2c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "accept-encoding=%q", r.Header.Get("Accept-Encoding"))
			}))
			p := newPair(t, pki, addrOf(l).Port(), serverID, pki.manager(t, serverID))
			client := dialThrough(p, h2c)
			switch tr := client.Transport.(type) {
			case *http.Transport:
				tr.DisableCompression = true
			case *http2.Transport:
				tr.DisableCompression = true
			}
			for _, sent := range []string{"", "br"} {
				req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://198.18.200.1:%d/", addrOf(l).Port()), nil)
				if err != nil {
					t.Fatal(err)
				}
				if sent != "" {
					req.Header.Set("Accept-Encoding", sent)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("accept-encoding=%q", sent); string(body) != want {
					t.Errorf("Accept-Encoding %q: the app got %s; want %s", sent, body, want)
				}
			}
		})
	}
}

// A response of known length is not held whole in the proxies' buffers: what the app wrote
// reaches the client soon after, not only with the rest of the body.
func TestSlowBodyOfKnownLengthStreams(t *testing.T) {
	pki := newTestPKI(t)
	release := make(chan struct{})
	l := serveApp(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "-last")
	}))
	p := newPair(t, pki, addrOf(l).Port(), serverID, pki.manager(t, serverID))
	defer close(release)

	resp, err := dialThrough(p, false).Get(fmt.Sprintf("http://198.18.200.1:%d/", addrOf(l).Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 5)
		n, _ := io.ReadFull(resp.Body, buf)
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "first" {
			t.Errorf("the body starts with %q; want %q", s, "first")
		}
	case <-time.After(2 * time.Second):
		t.Error("the start of the body waited in the proxies for the rest")
	}
}

// An app that dies in the middle of its answer: the inbound proxy aborts the request
// (ReverseProxy's http.ErrAbortHandler), the client never takes what it gets for a whole
// answer, and the proxies serve the next request.
func TestAppDyingMidBodyCutsTheAnswerShort(t *testing.T) {
	pki := newTestPKI(t)
	for _, tt := range []struct {
		name string
		h2c  bool
	}{{"HTTP/1.1", false}, {"HTTP/2 prior knowledge", true}} {
		t.Run(tt.name, func(t *testing.T) {
			l := serveApp(t, tt.h2c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/whole" {
					io.WriteString(w, "whole")
					return
				}
				w.Header().Set("Content-Length", "10")
				io.WriteString(w, "first")
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}))
			p := newPair(t, pki, addrOf(l).Port(), serverID, pki.manager(t, serverID))
			client := dialThrough(p, tt.h2c)
			base := fmt.Sprintf("http://198.18.200.1:%d", addrOf(l).Port())

			// The proxies may have sent the answer's start on, and then cut it too, or not
			// yet, and then answer 502 in its stead: never 200 with a body that looks whole.
			resp, err := client.Get(base + "/cut")
			if err == nil {
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK && rerr == nil:
					t.Errorf("a body the app cut short came whole: %q", body)
				case resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusBadGateway || resp.Header.Get(ErrorHeader) == ""):
					t.Errorf("a body the app cut short: %d %q; want 502 with %s", resp.StatusCode, resp.Header.Get(ErrorHeader), ErrorHeader)
				}
			}
			resp, err = client.Get(base + "/whole")
			if err != nil {
				t.Fatalf("the next request: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "whole" {
				t.Errorf("the next request: %d %q; want 200 %q", resp.StatusCode, body, "whole")
			}
		})
	}
}
