package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/proxy/setup"
	"github.com/meshfed/meshfed/pkg/trust"
)

// proxyCommand is the hidden subcommand that runs one meshfed proxy in its own process, so
// that its RSS is its own: `bench/proxy __proxy -id ... [-outbound DST=ENDPOINT]... [-inbound PORT]...`.
const proxyCommand = "__proxy"

// listFlag is a flag given any number of times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// proxyOptions are the subcommand's flags.
type proxyOptions struct {
	id, peer          string
	cert, key, anchor string
	outbound, inbound listFlag
	cpuProfile        string
	cores             int
}

// runProxy is the subcommand: a pkg/proxy.Proxy with the leaf the bench wrote and no
// iptables. Each -outbound DST=ENDPOINT is a listener whose connections were going to DST,
// the app's address, which the static resolver sends to ENDPOINT, a server proxy's inbound
// listener that must prove -peer. Each -inbound PORT is a listener whose connections were
// for the app's PORT on 127.0.0.1. Once serving it prints "listening" and the listeners'
// addresses, outbound first, in flag order; it drains and exits on SIGTERM.
func runProxy(args []string, stdout, stderr io.Writer) error {
	var o proxyOptions
	fs := flag.NewFlagSet(proxyCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.id, "id", "", "this proxy's SPIFFE ID")
	fs.StringVar(&o.peer, "peer", "", "the SPIFFE ID the server proxy must prove (outbound)")
	fs.StringVar(&o.cert, "cert", "", "the leaf and its issuer, PEM")
	fs.StringVar(&o.key, "key", "", "the leaf's key, PKCS#8 PEM")
	fs.StringVar(&o.anchor, "anchor", "", "the trust anchor, PEM")
	fs.Var(&o.outbound, "outbound", "DST=ENDPOINT: an outbound listener (any number)")
	fs.Var(&o.inbound, "inbound", "PORT: an inbound listener for the app's port (any number)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "a file for the CPU profile, written on the way out")
	fs.IntVar(&o.cores, "cores", setup.DefaultCores, "how many cores the proxy runs on (GOMAXPROCS), as proxy run --cores")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := setup.Cores(o.cores); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	manager, err := loadCerts(o, log)
	if err != nil {
		return err
	}
	l, err := listenAll(o)
	if err != nil {
		return err
	}
	defer l.close()
	p, err := proxy.New(proxy.Config{
		Certs: manager, Resolver: l.resolver.Cached(), Log: log, Workload: o.id,
		OriginalDestination: func(c net.Conn) (netip.AddrPort, error) {
			dst, ok := l.dst[c.LocalAddr().String()]
			if !ok {
				return netip.AddrPort{}, fmt.Errorf("no original destination for listener %s", c.LocalAddr())
			}
			return dst, nil
		},
	})
	if err != nil {
		return err
	}
	addrs := make([]string, 0, len(l.outbound)+len(l.inbound))
	for _, lis := range l.outbound {
		go p.ServeOutbound(ctx, lis)
		addrs = append(addrs, lis.Addr().String())
	}
	for _, lis := range l.inbound {
		go p.ServeInbound(ctx, lis)
		addrs = append(addrs, lis.Addr().String())
	}
	fmt.Fprintln(stdout, "listening", strings.Join(addrs, " "))

	<-ctx.Done()
	l.close()
	dctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.Drain(dctx)
	return nil
}

func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// loadCerts holds the leaf the bench wrote. Nothing renews it: the bench is over long before
// it expires.
func loadCerts(o proxyOptions, log *slog.Logger) (*certs.Manager, error) {
	id, err := trust.ParseID(o.id)
	if err != nil {
		return nil, fmt.Errorf("-id: %w", err)
	}
	anchorPEM, err := os.ReadFile(o.anchor)
	if err != nil {
		return nil, fmt.Errorf("-anchor: %w", err)
	}
	bundle, err := trust.ParseBundle(anchorPEM)
	if err != nil {
		return nil, fmt.Errorf("-anchor: %w", err)
	}
	leaf, err := readLeaf(o.cert, o.key)
	if err != nil {
		return nil, fmt.Errorf("-cert, -key: %w", err)
	}
	noRenewal := certs.CertifierFunc(func(context.Context) (*identityclient.Leaf, error) {
		return nil, errors.New("the bench's proxies have no identity service")
	})
	m := certs.NewManager(id, bundle, noRenewal, log)
	if err := m.Set(leaf); err != nil {
		return nil, err
	}
	return m, nil
}

// listeners are a proxy's, with where each one's connections were going and the resolver
// that routes them.
type listeners struct {
	outbound, inbound []net.Listener
	dst               map[string]netip.AddrPort // by listener address
	resolver          proxy.StaticResolver
}

func (l *listeners) close() {
	for _, lis := range append(l.outbound, l.inbound...) {
		lis.Close()
	}
}

func listenAll(o proxyOptions) (l *listeners, err error) {
	l = &listeners{dst: map[string]netip.AddrPort{}, resolver: proxy.StaticResolver{}}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	var peer *trust.ID
	if len(o.outbound) > 0 {
		id, err := trust.ParseID(o.peer)
		if err != nil {
			return nil, fmt.Errorf("-peer: %w", err)
		}
		peer = &id
	}
	for _, spec := range o.outbound {
		d, e, ok := strings.Cut(spec, "=")
		dst, derr := netip.ParseAddrPort(d)
		ep, eerr := netip.ParseAddrPort(e)
		if !ok || derr != nil || eerr != nil {
			return nil, fmt.Errorf("-outbound %q: want DST=ENDPOINT, two ip:port", spec)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("-outbound %s: %w", spec, err)
		}
		l.outbound = append(l.outbound, lis)
		l.dst[lis.Addr().String()] = dst
		// The app's address, for opaque TCP, and the listener's: without iptables the client
		// dials the listener, so its address is also the authority HTTP requests name.
		route := []proxy.Endpoint{{Addr: ep, Identity: peer}}
		l.resolver[dst.String()] = route
		l.resolver[lis.Addr().String()] = route
	}
	for _, spec := range o.inbound {
		port, err := strconv.ParseUint(spec, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("-inbound %q: want the app's port: %w", spec, err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("-inbound %s: %w", spec, err)
		}
		l.inbound = append(l.inbound, lis)
		l.dst[lis.Addr().String()] = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	}
	return l, nil
}

var listeningLine = regexp.MustCompile(`^listening (.*)$`)

// startMeshfed starts the server proxy in front of the apps, then the client proxy routing
// to it, each as a child running this binary's proxyCommand, and returns the path through
// them. With profileDir, each writes its CPU profile there as it exits.
func startMeshfed(ctx context.Context, files *pki, a *loadtest.Apps, profileDir string) (*path, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the bench's own binary: %w", err)
	}
	targets := []string{a.HTTP, a.GRPC, a.TCP}
	args := []string{"-id", serverID.String(), "-cert", files.server.cert, "-key", files.server.key, "-anchor", files.anchor}
	for _, t := range targets {
		_, port, _ := net.SplitHostPort(t)
		args = append(args, "-inbound", port)
	}
	server, inbound, err := startMeshfedProxy(ctx, self, "meshfed server proxy", append(args, profileFlag(profileDir, "server")...), len(targets))
	if err != nil {
		return nil, err
	}
	args = []string{"-id", clientID.String(), "-peer", serverID.String(), "-cert", files.client.cert, "-key", files.client.key, "-anchor", files.anchor}
	for i, t := range targets {
		args = append(args, "-outbound", t+"="+inbound[i])
	}
	client, outbound, err := startMeshfedProxy(ctx, self, "meshfed client proxy", append(args, profileFlag(profileDir, "client")...), len(targets))
	if err != nil {
		server.Stop()
		return nil, err
	}
	return &path{name: "meshfed pair", addrs: outbound[:2], tcp: outbound[2], proxies: []*loadtest.Process{client, server}}, nil
}

// startMeshfedProxy runs one proxy and returns it with the n addresses it listens on.
func startMeshfedProxy(ctx context.Context, self, name string, args []string, n int) (*loadtest.Process, []string, error) {
	p, err := loadtest.StartProcess(ctx, name, nil, self, append([]string{proxyCommand}, args...)...)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.Await(listeningLine, 1, 10*time.Second)
	if err != nil {
		p.Stop()
		return nil, nil, err
	}
	addrs := strings.Fields(m[0][1])
	if len(addrs) != n {
		p.Stop()
		return nil, nil, p.Failure(fmt.Errorf("listens on %d addresses, want %d", len(addrs), n))
	}
	return p, addrs, nil
}

func profileFlag(dir, side string) []string {
	if dir == "" {
		return nil
	}
	return []string{"-cpuprofile", filepath.Join(dir, "meshfed-"+side+".pprof")}
}
