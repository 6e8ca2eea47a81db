package iptables_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/netnstest"
	"github.com/meshfed/meshfed/pkg/proxy/iptables"
	"github.com/meshfed/meshfed/pkg/proxy/origdst"
)

// The addresses of the test's two namespaces: the pod, where the rules go, and a peer behind
// a veth, with a second address the config skips.
var (
	podAddr     = netip.MustParsePrefix("198.18.250.1/24")
	peerAddr    = netip.MustParsePrefix("198.18.250.2/24")
	skippedAddr = netip.MustParsePrefix("198.18.250.3/24")
)

// backend is one backend as the tests drive it: the mode that picks it, the name Apply reports,
// and the pod's rules as that backend's own tools show them.
type backend struct {
	mode iptables.Mode
	name string // Result.Backend
	// addForeign puts rules of someone else's in the pod, which Apply must keep.
	addForeign func(ctx context.Context, t *testing.T, pod *netnstest.NS)
	// save is the backend's rules in the pod, without what changes between two runs.
	save func(ctx context.Context, t *testing.T, pod *netnstest.NS) string
	// checkOnce checks that saved holds cfg's rules, each once, and the foreign ones.
	checkOnce func(t *testing.T, pod *netnstest.NS, saved string, cfg iptables.Config)
	// skipsPort is how the rule letting outbound port p through shows in save.
	skipsPort func(p int) string
}

// backends are the backends the machine has: iptables-nft and iptables-legacy where their
// binaries are, and the native one, which needs only the kernel.
func backends() []backend {
	var out []backend
	for _, b := range []struct {
		mode iptables.Mode
		bin  string
	}{{iptables.ModeNFT, "iptables-nft"}, {iptables.ModeLegacy, "iptables-legacy"}} {
		if _, err := exec.LookPath(b.bin + "-restore"); err == nil {
			out = append(out, iptablesBackend(b.mode, b.bin))
		}
	}
	return append(out, nativeBackend())
}

func iptablesBackend(mode iptables.Mode, bin string) backend {
	// A rule of someone else's, which the transaction must keep.
	const foreign = "-A OUTPUT -d 198.18.251.0/24 -p tcp -j RETURN"
	return backend{
		mode: mode,
		name: bin,
		addForeign: func(ctx context.Context, t *testing.T, pod *netnstest.NS) {
			if _, err := pod.Run(ctx, bin, append([]string{"--wait=5", "-t", "nat"}, strings.Fields(foreign)...)...); err != nil {
				t.Fatal(err)
			}
		},
		save: func(ctx context.Context, t *testing.T, pod *netnstest.NS) string {
			t.Helper()
			out, err := pod.Run(ctx, bin+"-save", "-t", "nat")
			if err != nil {
				t.Fatal(err)
			}
			return rules(out)
		},
		checkOnce: func(t *testing.T, _ *netnstest.NS, saved string, cfg iptables.Config) {
			checkOnce(t, saved, cfg, foreign)
		},
		skipsPort: func(p int) string { return fmt.Sprintf("--dport %d ", p) },
	}
}

// TestApplyInNamespace installs the rules in a network namespace of the test's own, twice, and
// then makes real connections: the pod's outbound TCP and the TCP arriving for it reach the
// proxy's listeners, which read the original destination back, and what the config skips
// goes where it was sent. It does so for each backend.
func TestApplyInNamespace(t *testing.T) {
	netnstest.Require(t)
	for _, be := range backends() {
		t.Run(string(be.mode), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pod, peer := netnstest.New(t), netnstest.New(t)
			netnstest.Link(t, pod, podAddr, peer, peerAddr)
			peer.AddAddr(t, skippedAddr)
			be.addForeign(ctx, t, pod)

			cfg := iptables.DefaultConfig()
			cfg.SkipOutboundPorts = []iptables.PortRange{iptables.Port(9000)}
			cfg.SkipOutboundCIDRs = []netip.Prefix{netip.PrefixFrom(skippedAddr.Addr(), 32)}

			apply := func(cfg iptables.Config, mode iptables.Mode) iptables.Result {
				t.Helper()
				var res iptables.Result
				if err := pod.Do(func() (err error) {
					res, err = iptables.Apply(ctx, cfg, iptables.Options{Mode: mode})
					return err
				}); err != nil {
					t.Fatalf("Apply (%s): %v", mode, err)
				}
				return res
			}

			res := apply(cfg, be.mode)
			if res.Backend != be.name || res.Rebuilt {
				t.Fatalf("first Apply: %+v, want backend %s and nothing rebuilt", res, be.name)
			}
			first := be.save(ctx, t, pod)
			if be.mode == iptables.ModeNative && res.Applied != first {
				t.Fatalf("Apply reported\n%s\nbut the kernel holds\n%s", res.Applied, first)
			}
			// Auto mode must find the backend that holds our rules, this one.
			if res := apply(cfg, iptables.ModeAuto); res.Backend != be.name || !res.Rebuilt {
				t.Fatalf("second Apply (auto): %+v, want backend %s and our rules rebuilt", res, be.name)
			}
			second := be.save(ctx, t, pod)
			if first != second {
				t.Fatalf("a second Apply changed the rules:\nafter the first\n%s\nafter the second\n%s", first, second)
			}
			be.checkOnce(t, pod, second, cfg)

			// A changed config rebuilds the rules in place; the old rule goes.
			changed := cfg
			changed.SkipOutboundPorts = []iptables.PortRange{iptables.Port(9001)}
			apply(changed, be.mode)
			if got := be.save(ctx, t, pod); strings.Contains(got, be.skipsPort(9000)) || !strings.Contains(got, be.skipsPort(9001)) {
				t.Fatalf("after Apply with port 9001 instead of 9000:\n%s", got)
			}
			apply(cfg, be.mode)
			if got := be.save(ctx, t, pod); got != first {
				t.Fatalf("after Apply with the first config again:\n%s\nwant\n%s", got, first)
			}
			be.checkOnce(t, pod, first, cfg)

			checkTraffic(ctx, t, pod, peer)
		})
	}
}

// rules is iptables-save output without its comments and counters, which change between runs.
func rules(save string) string {
	var keep []string
	for _, line := range strings.Split(save, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, ":") {
			line, _, _ = strings.Cut(line, " [")
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// checkOnce checks that every rule in saved is there once, and that the rules of our chains
// are as many as Rules makes: nothing doubled, nothing left over.
func checkOnce(t *testing.T, saved string, cfg iptables.Config, foreign string) {
	t.Helper()
	seen := map[string]int{}
	for _, line := range strings.Split(saved, "\n") {
		seen[line]++
		if seen[line] == 2 {
			t.Errorf("%q is in the table twice:\n%s", line, saved)
		}
	}
	if !strings.Contains(saved, "-A OUTPUT -d 198.18.251.0/24 -p tcp") {
		t.Errorf("the rule %q of someone else's is gone:\n%s", foreign, saved)
	}
	for _, chain := range []string{"PREROUTING", "OUTPUT", iptables.ChainInbound, iptables.ChainInboundRedirect, iptables.ChainOutput, iptables.ChainOutboundRedirect} {
		want := strings.Count(iptables.Rules(cfg), "-A "+chain+" ")
		got := strings.Count(saved, "-A "+chain+" ")
		if chain == "OUTPUT" {
			want++ // the foreign rule
		}
		if got != want {
			t.Errorf("chain %s has %d rules, want %d:\n%s", chain, got, want, saved)
		}
	}
}

// checkTraffic makes one connection per case and checks which listener it reached.
func checkTraffic(ctx context.Context, t *testing.T, pod, peer *netnstest.NS) {
	outbound := pod.Listen(t, ":4140")
	inbound := pod.Listen(t, ":4143")
	admin := pod.Listen(t, ":4191")
	podLocal := pod.Listen(t, "127.0.0.1:8081")
	app := peer.Listen(t, ":8080")
	peer9000 := peer.Listen(t, ":9000")
	pa, pe, sk := podAddr.Addr().String(), peerAddr.Addr().String(), skippedAddr.Addr().String()

	for _, tc := range []struct {
		name     string
		from     *netnstest.NS
		uid      int
		to       string
		reaches  *net.TCPListener
		origDest string // empty: the connection must not have been redirected
	}{
		{"outbound to the peer is redirected to 4140", pod, -1, pe + ":8080", outbound, pe + ":8080"},
		{"the proxy's own UID reaches the peer", pod, iptables.DefaultProxyUID, pe + ":8080", app, ""},
		{"another UID is redirected", pod, 1000, pe + ":8080", outbound, pe + ":8080"},
		{"a skipped outbound port reaches the peer", pod, -1, pe + ":9000", peer9000, ""},
		{"a skipped outbound CIDR reaches the peer", pod, -1, sk + ":8080", app, ""},
		{"loopback stays in the pod", pod, -1, "127.0.0.1:8081", podLocal, ""},
		{"the pod's own address stays in the pod", pod, -1, pa + ":4191", admin, ""},
		{"inbound to 8080 is redirected to 4143", peer, -1, pa + ":8080", inbound, pa + ":8080"},
		{"inbound to the admin port is not", peer, -1, pa + ":4191", admin, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			c, err := tc.from.Dial(dctx, tc.uid, tc.to)
			if err != nil {
				t.Fatalf("dial %s: %v", tc.to, err)
			}
			defer c.Close()
			// The name travels on the connection, so a connection that reached the wrong
			// listener earlier cannot be taken for this one.
			if _, err := io.WriteString(c, tc.name); err != nil {
				t.Fatal(err)
			}
			tc.reaches.SetDeadline(time.Now().Add(3 * time.Second))
			s, err := tc.reaches.AcceptTCP()
			if err != nil {
				t.Fatalf("the connection to %s did not reach the listener on %s: %v", tc.to, tc.reaches.Addr(), err)
			}
			defer s.Close()
			s.SetReadDeadline(time.Now().Add(3 * time.Second))
			got := make([]byte, len(tc.name))
			if _, err := io.ReadFull(s, got); err != nil || string(got) != tc.name {
				t.Fatalf("the listener on %s got %q, %v: another case's connection", tc.reaches.Addr(), got, err)
			}
			orig, err := origdst.OriginalDestination(s)
			switch {
			case tc.origDest == "" && !errors.Is(err, origdst.ErrNotRedirected):
				t.Errorf("OriginalDestination = %v, %v; want ErrNotRedirected", orig, err)
			case tc.origDest != "" && (err != nil || orig.String() != tc.origDest):
				t.Errorf("OriginalDestination = %v, %v; want %s", orig, err, tc.origDest)
			}
		})
	}
}

// Without NET_ADMIN the error says so, for each backend, in the words proxy init's users will
// search for: iptables runs as nobody, and the native backend runs on a thread that has given
// up CAP_NET_ADMIN (auto mode finds that out from nftables first).
func TestApplyWithoutNetAdmin(t *testing.T) {
	netnstest.Require(t)
	modes := []iptables.Mode{iptables.ModeNative, iptables.ModeAuto}
	for _, be := range backends() {
		if be.mode != iptables.ModeNative {
			modes = append(modes, be.mode)
		}
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ns := netnstest.New(t)
			var err error
			switch mode {
			case iptables.ModeNative, iptables.ModeAuto:
				err = ns.Do(func() error {
					// The thread dies after this function (netnstest never hands it back),
					// and the capability with it.
					if err := dropNetAdmin(); err != nil {
						return fmt.Errorf("dropping CAP_NET_ADMIN: %w", err)
					}
					_, err := iptables.Apply(ctx, iptables.DefaultConfig(), iptables.Options{Mode: mode})
					return err
				})
			default:
				netnstest.Require(t, "setpriv")
				nobody := func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
					cmd := exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", name}, args...)...)
					cmd.Stdin = strings.NewReader(string(stdin))
					out, err := cmd.CombinedOutput()
					if err != nil {
						return nil, errors.New(name + ": " + err.Error() + ": " + string(out))
					}
					return out, nil
				}
				err = ns.Do(func() error {
					_, err := iptables.Apply(ctx, iptables.DefaultConfig(), iptables.Options{Mode: mode, Run: nobody})
					return err
				})
			}
			if !errors.Is(err, iptables.ErrNeedNetAdmin) || !strings.HasPrefix(err.Error(), "proxy init needs the NET_ADMIN capability in the pod's network namespace: ") {
				t.Fatalf("Apply without NET_ADMIN: %v; want the NET_ADMIN error", err)
			}
			t.Logf("%v", err)
		})
	}
}
