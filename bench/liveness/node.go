package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/membership"
	"github.com/meshfed/meshfed/pkg/proxy"
)

// gatewayCommand is the hidden subcommand that runs one cluster's gateway in its own process,
// so that kill -9 ends it as a crash ends a pod: `bench/liveness __gateway -cluster east ...`.
const gatewayCommand = "__gateway"

// runGateway is one cluster's east-west gateway as cmd/gateway runs it, on the loopback
// address -ip: pkg/gateway's listener on 4143; the admin endpoint on 4191, whose /ready the
// Links' probes read and whose /members the link controller reads; and its member of the
// gossip pool on 7946, joined to the members at -join. Its leaf is signed at start by its
// cluster's issuer in -pki. It prints "ready" once all of them serve, and runs until killed or
// sent SIGTERM.
func runGateway(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(gatewayCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cluster := fs.String("cluster", "", "the gateway's cluster")
	ipFlag := fs.String("ip", "", "its loopback address")
	pki := fs.String("pki", "", "the folder writePKI wrote")
	var join listFlag
	fs.Var(&join, "join", "a member's gossip address, IP:PORT; repeat for each")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ip, err := netip.ParseAddr(*ipFlag)
	if err != nil {
		return fmt.Errorf("-ip: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Errors only: memberlist warns of every refused connection to a dead peer, which is what
	// the bench makes on purpose.
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	manager, err := loadtest.IssueCerts(gatewayID(*cluster), filepath.Join(*pki, "anchor.pem"),
		filepath.Join(*pki, *cluster+"-issuer.pem"), filepath.Join(*pki, *cluster+"-issuer.key"), log)
	if err != nil {
		return err
	}
	var others []string
	for _, gw := range gateways {
		if gw.cluster != *cluster {
			others = append(others, gw.cluster)
		}
	}
	allow, err := gateway.ParseAllowList(others)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	g, err := gateway.New(gateway.Config{Certs: manager, Resolver: proxy.StaticResolver{}, Log: log, Metrics: reg,
		Allowed: allow.Allowed, ClusterOf: allow.ClusterOf})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", netip.AddrPortFrom(ip, gateway.Port).String())
	if err != nil {
		return err
	}
	defer lis.Close()
	go g.Serve(ctx, lis)

	m, err := membership.New(ctx, membership.Config{
		Cluster:     *cluster,
		BindAddr:    netip.AddrPortFrom(ip, membership.DefaultPort),
		Credentials: membership.Credentials{Certificate: manager.Certificate, Bundle: manager.Bundle},
		Allowed:     allowGateways,
		Logger:      log,
		Registerer:  reg,
	})
	if err != nil {
		return err
	}
	defer m.Shutdown()

	// As cmd/gateway's admin listener: the gateway's /ready, /live and /metrics, and the pool.
	mux := http.NewServeMux()
	mux.Handle("/", g.AdminHandler(reg))
	mux.Handle("GET /members", membership.Handler(func() *membership.Member { return m }))
	admin := &http.Server{Addr: netip.AddrPortFrom(ip, proxy.AdminPort).String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	adminLis, err := net.Listen("tcp", admin.Addr)
	if err != nil {
		return err
	}
	go admin.Serve(adminLis)
	defer admin.Close()

	if len(join) > 0 {
		addrs := make([]netip.AddrPort, 0, len(join))
		for _, j := range join {
			a, err := netip.ParseAddrPort(j)
			if err != nil {
				return fmt.Errorf("-join %q: %w", j, err)
			}
			addrs = append(addrs, a)
		}
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := m.Join(jctx, addrs)
		cancel()
		if n == 0 {
			return fmt.Errorf("joining %v: none answered: %w", join, errors.Join(err, errors.New("no member joined")))
		}
	}
	fmt.Fprintln(stdout, "ready")
	<-ctx.Done()
	return nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
