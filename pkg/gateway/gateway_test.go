package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
)

func TestHTTPAcrossClusters(t *testing.T) {
	f := newFederation(t)
	for _, tt := range []struct {
		name  string
		id    trust.ID
		h2c   bool
		url   string
		code  int
		body  string   // for 200
		error []string // in the client proxy's error header, otherwise
	}{
		{name: "HTTP/1.1 from the allowed west workload", id: westWeb, url: "http://api-east.shop.svc.cluster.local:8080/" + marker,
			code: 200, body: "HTTP/1.1 /" + marker + " client=" + westWeb.String()},
		{name: "HTTP/2 from the allowed west workload", id: westWeb, h2c: true, url: "http://api-east.shop.svc.cluster.local:8080/" + marker,
			code: 200, body: "HTTP/2.0 /" + marker + " client=" + westWeb.String()},
		{name: "the identity the destination service pins", id: westWeb, url: "http://pinned-east.shop.svc.cluster.local:8080/" + marker,
			code: 200, body: "HTTP/1.1 /" + marker + " client=" + westWeb.String()},
		{name: "a pinned identity the remote pod does not prove", id: westWeb, url: "http://wrong-east.shop.svc.cluster.local:8080/wrong",
			code: http.StatusBadGateway, error: []string{"mTLS to " + apiAuthority, eastAPI.String()}},
		{name: "another west workload, refused by east's policy", id: westOther, url: "http://api-east.shop.svc.cluster.local:8080/denied",
			code: http.StatusBadGateway},
		{name: "a cluster east does not allow", id: northWeb, url: "http://api-east.shop.svc.cluster.local:8080/north",
			code: http.StatusBadGateway, error: []string{"gateway " + f.gateway.String(), `cluster "east"`, "403", "trust domain north.meshfed.local is not allowed", "west.meshfed.local"}},
		{name: "a service east does not have", id: westWeb, url: "http://nope-east.shop.svc.cluster.local:8080/",
			code: http.StatusBadGateway, error: []string{"gateway " + f.gateway.String(), `cluster "east"`, "404", "no Service " + noneAuthority}},
		{name: "an authority that is no service", id: westWeb, url: "http://bad-east.shop.svc.cluster.local:8080/",
			code: http.StatusBadGateway, error: []string{"gateway " + f.gateway.String(), "400", "not a Service of this cluster"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client(t, tt.id)
			code, h, body := c.get(t, tt.h2c, tt.url)
			if code != tt.code {
				t.Fatalf("got %d %q (%s); want %d", code, body, h.Get(proxy.ErrorHeader), tt.code)
			}
			if code == 200 && body != tt.body {
				t.Errorf("body %q; want %q", body, tt.body)
			}
			for _, want := range tt.error {
				if got := h.Get(proxy.ErrorHeader); !strings.Contains(got, want) {
					t.Errorf("error %q; want it to say %q", got, want)
				}
			}
		})
	}
	// The east server proxy's policy saw the west workloads themselves, never the gateway,
	// and north never got past the gateway.
	seen := f.policy.clients()
	if !slices.Contains(seen, westWeb) || !slices.Contains(seen, westOther) {
		t.Errorf("east's policy saw %v; want %s and %s", seen, westWeb, westOther)
	}
	for _, id := range seen {
		if id == eastGW || id.TrustDomain == northWeb.TrustDomain {
			t.Errorf("east's policy saw %s", id)
		}
	}
	close(f.reached)
	var paths []string
	for p := range f.reached {
		paths = append(paths, p)
	}
	if slices.Contains(paths, "/denied") || slices.Contains(paths, "/north") || slices.Contains(paths, "/wrong") {
		t.Errorf("refused requests reached east's app: %v", paths)
	}
	if got := value(t, f.gwMetrics, "meshfed_gateway_refused_total", "north", "not_allowed"); got < 1 {
		t.Errorf("refused north: %v; want at least 1", got)
	}
	if got := value(t, f.gwMetrics, "meshfed_gateway_connections_total", "west"); got < 2 {
		t.Errorf("tunnels from west: %v; want at least 2", got)
	}
}

// The gateway only ever relays TLS, and both sessions are TLS 1.3.
func TestGatewaySeesNoPlaintext(t *testing.T) {
	f := newFederation(t)
	c := f.client(t, westWeb)
	if code, h, body := c.get(t, false, "http://api-east.shop.svc.cluster.local:8080/"+marker); code != 200 {
		t.Fatalf("got %d %q (%s)", code, body, h.Get(proxy.ErrorHeader))
	}
	opaque(t, c)
	check := func(what string, conns []*tapConn) {
		t.Helper()
		if len(conns) == 0 {
			t.Fatalf("%s: no connection", what)
		}
		for i, tc := range conns {
			written, read := tc.bytes()
			// The server's side: toPods are client → server writes; outer is the gateway's
			// own listener, where it reads the client and writes the server side.
			client, server := written, read
			if what == "outer" {
				client, server = read, written
			}
			for _, b := range [][]byte{client, server} {
				if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte("HTTP/1.1")) || bytes.Contains(b, []byte("220 hello")) {
					t.Errorf("%s connection %d carries plaintext", what, i)
				}
			}
			if len(client) < 3 || client[0] != 0x16 || client[1] != 3 {
				t.Errorf("%s connection %d does not start with a TLS handshake record: % x", what, i, client[:min(8, len(client))])
			}
			v, err := serverHelloVersion(server)
			if err != nil {
				t.Errorf("%s connection %d: %v", what, i, err)
			} else if v != tls.VersionTLS13 {
				t.Errorf("%s connection %d: TLS %x; want 1.3", what, i, v)
			}
		}
	}
	check("tunnelled", f.toPods.all())
	check("outer", f.outer.all())
	if n := len(f.outer.all()); n != 1 {
		t.Errorf("%d outer sessions; want 1, shared by HTTP and TCP", n)
	}
	if got := value(t, c.metrics, "meshfed_proxy_gateway_dials_total", "east", "ok"); got != 2 {
		t.Errorf("gateway dials ok: %v; want 2", got)
	}
}

func TestOpaqueTCPAcrossClusters(t *testing.T) {
	f := newFederation(t)
	c := f.client(t, westWeb)
	opaque(t, c)
	testenv.Eventually(t, 5*time.Second, "the tunnel's bytes counted", func() error {
		in := value(t, f.gwMetrics, "meshfed_gateway_bytes_total", "west", "in")
		out := value(t, f.gwMetrics, "meshfed_gateway_bytes_total", "west", "out")
		if in == 0 || out == 0 {
			return fmt.Errorf("in %v, out %v", in, out)
		}
		return nil
	})
}

// opaque speaks a server-speaks-first protocol to east's tcp app through c.
func opaque(t *testing.T, c *westClient) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.tcp.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if greeting, err := r.ReadString('\n'); err != nil || greeting != "220 hello\n" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	fmt.Fprintln(conn, "ping")
	if line, err := r.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
}

// A caller whose certificate does not chain to east's bundle never gets a session, and one
// that offers TLS 1.2 neither.
func TestGatewayRefusesStrangers(t *testing.T) {
	f := newFederation(t)
	stranger := newPKI(t)
	m := stranger.manager(t, westWeb)
	for _, tt := range []struct {
		name   string
		cfg    *tls.Config
		reason string
	}{
		// It does not check the gateway: the test is whether the gateway checks it.
		{"another anchor", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"meshfed.io/gateway"},
			Certificates: []tls.Certificate{*m.Leaf().TLSCertificate()}}, "untrusted"},
		{"TLS 1.2", func() *tls.Config {
			c := f.pki.manager(t, westWeb).ClientConfig(eastGW, "meshfed.io/gateway")
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}(), "handshake"},
		{"no certificate", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"meshfed.io/gateway"}}, "handshake"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := value(t, f.gwMetrics, "meshfed_gateway_refused_total", "", tt.reason)
			conn, err := tls.Dial("tcp", f.gateway.String(), tt.cfg)
			if err == nil {
				// TLS 1.3: the client's certificate is checked after the client's handshake
				// is done; the refusal comes on the first read.
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil {
				t.Fatal("the gateway let a stranger in")
			}
			testenv.Eventually(t, 5*time.Second, "the refusal counted", func() error {
				if got := value(t, f.gwMetrics, "meshfed_gateway_refused_total", "", tt.reason); got <= before {
					return errors.New("not yet")
				}
				return nil
			})
		})
	}
}

// value is one series of a counter or gauge vector in reg, 0 when it has none.
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			if slices.Equal(vals, labels) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// serverHelloVersion reads the version a TLS server chose from the start of what it sent: its
// ServerHello's supported_versions extension (TLS 1.3), else the legacy version field.
func serverHelloVersion(b []byte) (uint16, error) {
	if len(b) < 5 || b[0] != 0x16 {
		return 0, fmt.Errorf("not a TLS handshake record: % x", b[:min(8, len(b))])
	}
	rec := b[5:min(len(b), 5+int(binary.BigEndian.Uint16(b[3:5])))]
	if len(rec) < 4 || rec[0] != 2 {
		return 0, errors.New("no ServerHello")
	}
	h := rec[4:]
	// legacy_version 2, random 32, session id, cipher suite 2, compression 1, extensions.
	if len(h) < 35 {
		return 0, errors.New("short ServerHello")
	}
	legacy := binary.BigEndian.Uint16(h)
	h = h[34:]
	sid := int(h[0])
	if len(h) < 1+sid+3+2 {
		return legacy, nil
	}
	h = h[1+sid+3:]
	exts := h[2:min(len(h), 2+int(binary.BigEndian.Uint16(h)))]
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
