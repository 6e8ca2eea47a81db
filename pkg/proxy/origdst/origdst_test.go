package origdst_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/netnstest"
	"github.com/meshfed/meshfed/pkg/proxy/origdst"
)

// accept returns the server side of a connection made to l by dial, within the test's time.
func accept(t *testing.T, l *net.TCPListener, dial func(context.Context) (net.Conn, error)) *net.TCPConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.SetDeadline(time.Now().Add(5 * time.Second))
	client, err := dial(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := l.AcceptTCP()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	return server
}

// A connection made to the listener directly has no original destination, whether or not the
// kernel tracks connections on loopback here.
func TestNotRedirected(t *testing.T) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	server := accept(t, l, func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", l.Addr().String())
	})
	got, err := origdst.OriginalDestination(server)
	if !errors.Is(err, origdst.ErrNotRedirected) {
		t.Fatalf("OriginalDestination = %v, %v; want an error wrapping ErrNotRedirected", got, err)
	}
	t.Logf("error: %v", err)
}

// Inside a namespace of its own the test redirects loopback port 9 to the listener, as the
// init step's rules redirect the pod's traffic, and reads the original destination back on
// every kind of listener socket: IPv4, dual-stack (an IPv4 connection on an AF_INET6 socket)
// and IPv6.
func TestRedirected(t *testing.T) {
	netnstest.Require(t, "iptables", "ip6tables")
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skip("needs IPv6 in the kernel")
	}
	ns := netnstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, cmd := range [][]string{
		{"iptables", "--wait=5", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", "9", "-j", "REDIRECT", "--to-ports", "4140"},
		{"ip6tables", "--wait=5", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "::1", "--dport", "9", "-j", "REDIRECT", "--to-ports", "4140"},
	} {
		if _, err := ns.Run(ctx, cmd[0], cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, listen, dial string
		want               netip.AddrPort
	}{
		{"IPv4", "127.0.0.1:4140", "127.0.0.1:9", netip.MustParseAddrPort("127.0.0.1:9")},
		{"IPv4 on a dual-stack socket", "[::]:4140", "127.0.0.1:9", netip.MustParseAddrPort("127.0.0.1:9")},
		{"IPv6", "[::1]:4140", "[::1]:9", netip.MustParseAddrPort("[::1]:9")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ns.Listen(t, tc.listen)
			server := accept(t, l, func(ctx context.Context) (net.Conn, error) {
				return ns.Dial(ctx, -1, tc.dial)
			})
			got, err := origdst.OriginalDestination(server)
			if err != nil || got != tc.want {
				t.Fatalf("OriginalDestination = %v, %v; want %v", got, err, tc.want)
			}
			// The listener's own port, reached directly, is not a redirection.
			host, _, _ := net.SplitHostPort(tc.dial)
			direct := accept(t, l, func(ctx context.Context) (net.Conn, error) {
				return ns.Dial(ctx, -1, net.JoinHostPort(host, "4140"))
			})
			if got, err := origdst.OriginalDestination(direct); !errors.Is(err, origdst.ErrNotRedirected) {
				t.Fatalf("direct connection: OriginalDestination = %v, %v; want ErrNotRedirected", got, err)
			}
			l.Close()
		})
	}
}
