package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
)

// nodeCommand is the hidden subcommand that runs one part in its own process, so that its RSS
// is its own: `bench/gateway __node -role client|server|gateway ...`.
const nodeCommand = "__node"

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type nodeOptions struct {
	role, id                      string
	anchor, issuerCert, issuerKey string
	peer, gatewayID               string
	inbound, service              listFlag // server: app ports; gateway: AUTHORITY=ENDPOINT
	direct, via                   listFlag // client: ENDPOINT; GATEWAY=AUTHORITY
}

// runNode runs one part with a leaf its cluster's issuer signs at start, and prints
// "listening" and its listeners' addresses in flag order (client: -direct then -via).
//
//   - server: a proxy's inbound, one listener per -inbound PORT of the app on 127.0.0.1;
//   - gateway: the east-west gateway, its resolver sending each -service AUTHORITY=ENDPOINT
//     to the server proxy that must prove -peer, allowing the cluster "west";
//   - client: a proxy's outbound, one listener per -direct ENDPOINT (the in-cluster path to
//     the server proxy) and per -via GATEWAY=AUTHORITY (through the gateway, which must prove
//     -gateway-id).
func runNode(args []string, stdout, stderr io.Writer) error {
	var o nodeOptions
	fs := flag.NewFlagSet(nodeCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.role, "role", "", "client, server or gateway")
	fs.StringVar(&o.id, "id", "", "this part's SPIFFE ID")
	fs.StringVar(&o.anchor, "anchor", "", "the trust anchor, PEM")
	fs.StringVar(&o.issuerCert, "issuer-cert", "", "this part's cluster's issuer, PEM")
	fs.StringVar(&o.issuerKey, "issuer-key", "", "its key, PEM")
	fs.StringVar(&o.peer, "peer", "", "the server proxy's SPIFFE ID")
	fs.StringVar(&o.gatewayID, "gateway-id", "", "the gateway's SPIFFE ID")
	fs.Var(&o.inbound, "inbound", "server: an app port")
	fs.Var(&o.service, "service", "gateway: AUTHORITY=ENDPOINT")
	fs.Var(&o.direct, "direct", "client: ENDPOINT, the server proxy's inbound")
	fs.Var(&o.via, "via", "client: GATEWAY=AUTHORITY")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	id, err := trust.ParseID(o.id)
	if err != nil {
		return fmt.Errorf("-id: %w", err)
	}
	manager, err := loadtest.IssueCerts(id, o.anchor, o.issuerCert, o.issuerKey, log)
	if err != nil {
		return err
	}
	var peer trust.ID
	if o.peer != "" {
		if peer, err = trust.ParseID(o.peer); err != nil {
			return fmt.Errorf("-peer: %w", err)
		}
	}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	listen := func() (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			listeners = append(listeners, l)
		}
		return l, err
	}
	var drain func(context.Context)
	switch o.role {
	case "server":
		dst := map[string]netip.AddrPort{}
		var ins []net.Listener
		for _, spec := range o.inbound {
			port, err := strconv.ParseUint(spec, 10, 16)
			if err != nil {
				return fmt.Errorf("-inbound %q: %w", spec, err)
			}
			l, err := listen()
			if err != nil {
				return err
			}
			dst[l.Addr().String()] = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			ins = append(ins, l)
		}
		p, err := proxy.New(proxy.Config{Certs: manager, Resolver: proxy.StaticResolver{}, Log: log, Workload: "server",
			OriginalDestination: func(c net.Conn) (netip.AddrPort, error) { return dst[c.LocalAddr().String()], nil }})
		if err != nil {
			return err
		}
		for _, l := range ins {
			go p.ServeInbound(ctx, l)
		}
		drain = p.Drain
	case "gateway":
		resolver := proxy.StaticResolver{}
		for _, spec := range o.service {
			auth, ep, ok := strings.Cut(spec, "=")
			addr, err := netip.ParseAddrPort(ep)
			if !ok || err != nil {
				return fmt.Errorf("-service %q: want AUTHORITY=ENDPOINT", spec)
			}
			resolver[auth] = []proxy.Endpoint{{Addr: addr, Identity: &peer}}
		}
		allow, err := gateway.ParseAllowList([]string{"west"})
		if err != nil {
			return err
		}
		g, err := gateway.New(gateway.Config{Certs: manager, Resolver: resolver, Log: log, Allowed: allow.Allowed, ClusterOf: allow.ClusterOf})
		if err != nil {
			return err
		}
		l, err := listen()
		if err != nil {
			return err
		}
		go g.Serve(ctx, l)
		drain = g.Drain
	case "client":
		gwID, err := trust.ParseID(o.gatewayID)
		if err != nil && len(o.via) > 0 {
			return fmt.Errorf("-gateway-id: %w", err)
		}
		resolver := proxy.StaticResolver{}
		dst := map[string]netip.AddrPort{}
		route := func(ep proxy.Endpoint) error {
			l, err := listen()
			if err != nil {
				return err
			}
			// Without iptables the load generator dials the listener: its address is both the
			// original destination and the authority HTTP requests name.
			addr := netip.MustParseAddrPort(l.Addr().String())
			dst[l.Addr().String()] = addr
			resolver[addr.String()] = []proxy.Endpoint{ep}
			return nil
		}
		for _, spec := range o.direct {
			addr, err := netip.ParseAddrPort(spec)
			if err != nil {
				return fmt.Errorf("-direct %q: %w", spec, err)
			}
			if err := route(proxy.Endpoint{Addr: addr, Identity: &peer}); err != nil {
				return err
			}
		}
		for _, spec := range o.via {
			gw, auth, ok := strings.Cut(spec, "=")
			addr, err := netip.ParseAddrPort(gw)
			if !ok || err != nil {
				return fmt.Errorf("-via %q: want GATEWAY=AUTHORITY", spec)
			}
			if err := route(proxy.Endpoint{Addr: addr, Identity: &peer,
				Gateway: &proxy.GatewayHop{Identity: gwID, Authority: auth, Cluster: "east"}}); err != nil {
				return err
			}
		}
		p, err := proxy.New(proxy.Config{Certs: manager, Resolver: resolver, Log: log, Workload: "client",
			OriginalDestination: func(c net.Conn) (netip.AddrPort, error) { return dst[c.LocalAddr().String()], nil }})
		if err != nil {
			return err
		}
		for _, l := range listeners {
			go p.ServeOutbound(ctx, l)
		}
		drain = p.Drain
	default:
		return fmt.Errorf("-role %q: want client, server or gateway", o.role)
	}
	addrs := make([]string, len(listeners))
	for i, l := range listeners {
		addrs[i] = l.Addr().String()
	}
	fmt.Fprintln(stdout, "listening", strings.Join(addrs, " "))
	<-ctx.Done()
	for _, l := range listeners {
		l.Close()
	}
	dctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	drain(dctx)
	return nil
}
