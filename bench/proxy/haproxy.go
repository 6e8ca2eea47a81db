package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"text/template"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
)

// The HAProxy pair does what the meshfed pair does, configured as a sidecar pair would be:
// the client side takes plaintext and speaks TLS 1.3 with the client's leaf, verifying the
// server's against the anchor; the server side requires and verifies the client's leaf. HTTP
// crosses the TLS hop as HTTP/2 (ALPN h2), as between meshfed proxies; gRPC is h2c on both
// ends; the bulk TCP is mode tcp over TLS. The cipher is the one Go's crypto/tls picks
// between meshfed proxies on a machine with AES instructions (OpenSSL would pick AES-256).
// Listeners are sockets the bench opened and hands
// down (fd@3, fd@4, fd@5), so no port is picked twice.

const haproxyCommon = `global
	maxconn 4096
	ssl-default-bind-options ssl-min-ver TLSv1.3
	ssl-default-server-options ssl-min-ver TLSv1.3
	ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
	ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256

defaults
	timeout connect 5s
	timeout client 60s
	timeout server 60s
`

var haproxyClient = template.Must(template.New("client").Parse(haproxyCommon + `
frontend http_in
	mode http
	bind fd@3
	default_backend http_mesh
backend http_mesh
	mode http
	server server {{.HTTP}} ssl alpn h2 crt {{.Cert}} ca-file {{.Anchor}} verify required

frontend grpc_in
	mode http
	bind fd@4 proto h2
	default_backend grpc_mesh
backend grpc_mesh
	mode http
	server server {{.GRPC}} ssl alpn h2 crt {{.Cert}} ca-file {{.Anchor}} verify required

frontend tcp_in
	mode tcp
	bind fd@5
	default_backend tcp_mesh
backend tcp_mesh
	mode tcp
	server server {{.TCP}} ssl crt {{.Cert}} ca-file {{.Anchor}} verify required
`))

var haproxyServer = template.Must(template.New("server").Parse(haproxyCommon + `
frontend http_mesh
	mode http
	bind fd@3 ssl alpn h2 crt {{.Cert}} ca-file {{.Anchor}} verify required
	default_backend http_app
backend http_app
	mode http
	server app {{.HTTP}}

frontend grpc_mesh
	mode http
	bind fd@4 ssl alpn h2 crt {{.Cert}} ca-file {{.Anchor}} verify required
	default_backend grpc_app
backend grpc_app
	mode http
	server app {{.GRPC}} proto h2

frontend tcp_mesh
	mode tcp
	bind fd@5 ssl crt {{.Cert}} ca-file {{.Anchor}} verify required
	default_backend tcp_app
backend tcp_app
	mode tcp
	server app {{.TCP}}
`))

// haproxyConfig fills a template: where each backend goes, and the side's PEM files.
type haproxyConfig struct {
	HTTP, GRPC, TCP string
	Cert, Anchor    string
}

// startHAProxy starts the server-side haproxy in front of the apps, then the client-side one
// in front of it, and returns the path through them.
func startHAProxy(ctx context.Context, dir string, files *pki, a *loadtest.Apps) (*path, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, fmt.Errorf("haproxy is not installed (hack/install-deps.sh installs it): %w", err)
	}
	serverLis, serverAddrs, err := listenLoopback(3)
	if err != nil {
		return nil, err
	}
	server, err := runHAProxy(ctx, bin, "haproxy server side", filepath.Join(dir, "haproxy-server.cfg"), haproxyServer,
		haproxyConfig{HTTP: a.HTTP, GRPC: a.GRPC, TCP: a.TCP, Cert: files.server.combined, Anchor: files.anchor}, serverLis)
	if err != nil {
		return nil, err
	}
	clientLis, clientAddrs, err := listenLoopback(3)
	if err != nil {
		server.Stop()
		return nil, err
	}
	client, err := runHAProxy(ctx, bin, "haproxy client side", filepath.Join(dir, "haproxy-client.cfg"), haproxyClient,
		haproxyConfig{HTTP: serverAddrs[0], GRPC: serverAddrs[1], TCP: serverAddrs[2], Cert: files.client.combined, Anchor: files.anchor}, clientLis)
	if err != nil {
		server.Stop()
		return nil, err
	}
	return &path{name: "haproxy pair", addrs: clientAddrs[:2], tcp: clientAddrs[2], proxies: []*loadtest.Process{client, server}}, nil
}

// listenLoopback opens n listeners on loopback and returns them as files, for a child, with
// their addresses.
func listenLoopback(n int) ([]*os.File, []string, error) {
	var files []*os.File
	var addrs []string
	for range n {
		lis, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			loadtest.CloseAll(files)
			return nil, nil, fmt.Errorf("a listener for haproxy: %w", err)
		}
		f, err := lis.File()
		lis.Close() // f is a duplicate: the socket stays open
		if err != nil {
			loadtest.CloseAll(files)
			return nil, nil, fmt.Errorf("a listener for haproxy: %w", err)
		}
		files = append(files, f)
		addrs = append(addrs, lis.Addr().String())
	}
	return files, addrs, nil
}

// runHAProxy writes cfg from tmpl, checks it, and runs haproxy on it in the foreground with
// listeners as fds 3, 4, 5. There is nothing to wait for: the sockets listen already, so a
// connection made before haproxy accepts waits in the backlog.
func runHAProxy(ctx context.Context, bin, name, cfg string, tmpl *template.Template, c haproxyConfig, listeners []*os.File) (*loadtest.Process, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, c); err != nil {
		loadtest.CloseAll(listeners)
		return nil, fmt.Errorf("%s: its configuration: %w", name, err)
	}
	if err := os.WriteFile(cfg, buf.Bytes(), 0o600); err != nil {
		loadtest.CloseAll(listeners)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	check := exec.CommandContext(ctx, bin, "-c", "-f", cfg)
	check.ExtraFiles = listeners // it checks that fd@3... are sockets
	if out, err := check.CombinedOutput(); err != nil {
		loadtest.CloseAll(listeners)
		return nil, fmt.Errorf("%s: haproxy -c -f %s: %w\n%s", name, cfg, err, out)
	}
	return loadtest.StartProcess(ctx, name, listeners, bin, "-db", "-f", cfg)
}
