package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/internal/netnstest"
	"github.com/meshfed/meshfed/pkg/proxy/iptables"
)

func TestRun(t *testing.T) {
	custom := iptables.DefaultConfig()
	custom.ProxyUID = 2103
	custom.SkipInboundPorts = []iptables.PortRange{iptables.Port(4191)}
	custom.SkipOutboundPorts = []iptables.PortRange{iptables.Port(25), {First: 3306, Last: 3307}}
	custom.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}
	dual := iptables.DefaultConfig()
	dual.IPv6 = true
	dual.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00::/8")}

	for _, tc := range []struct {
		name    string
		args    []string
		stdout  string // exactly, when wantErr is empty
		wantErr string
	}{
		{"dry run", []string{"init", "--dry-run"}, autoDryRunNote + iptables.NativeRules(iptables.DefaultConfig()), ""},
		{"dry run, native", []string{"init", "--dry-run", "--iptables-mode=native"}, iptables.NativeRules(iptables.DefaultConfig()), ""},
		{"dry run, nft", []string{"init", "--dry-run", "--iptables-mode=nft"}, iptables.Rules(iptables.DefaultConfig()), ""},
		{"dry run, legacy", []string{"init", "--dry-run", "--iptables-mode=legacy"}, iptables.Rules(iptables.DefaultConfig()), ""},
		{"dry run with flags", []string{"init", "--dry-run", "--iptables-mode=nft", "--proxy-uid=2103", "--skip-inbound-ports=4191",
			"--skip-outbound-ports", "25, 3306-3307", "--skip-outbound-cidrs=198.18.0.0/15"}, iptables.Rules(custom), ""},
		{"dry run with flags, native", []string{"init", "--dry-run", "--iptables-mode=native", "--proxy-uid=2103", "--skip-inbound-ports=4191",
			"--skip-outbound-ports", "25, 3306-3307", "--skip-outbound-cidrs=198.18.0.0/15"}, iptables.NativeRules(custom), ""},
		{"dry run with IPv6", []string{"init", "--dry-run", "--iptables-mode=nft", "--ipv6", "--skip-outbound-cidrs=198.18.0.0/15,fd00::/8"},
			iptables.Rules(dual) + "# ip6tables-restore\n" + iptables.Rules6(dual), ""},
		{"dry run with IPv6, native", []string{"init", "--dry-run", "--iptables-mode=native", "--ipv6", "--skip-outbound-cidrs=198.18.0.0/15,fd00::/8"},
			iptables.NativeRules(dual), ""},
		{"help", []string{"help"}, usage + "\n", ""},
		{"init help", []string{"init", "-h"}, "", ""},
		{"no command", nil, "", "usage: proxy COMMAND"},
		{"unknown command", []string{"inject"}, "", `unknown command "inject"`},
		{"bad port list", []string{"init", "--dry-run", "--skip-inbound-ports=admin"}, "", `--skip-inbound-ports: port list "admin": "admin" is not a port number`},
		{"bad CIDR", []string{"init", "--dry-run", "--skip-outbound-cidrs=198.18.0.1"}, "", `--skip-outbound-cidrs: CIDR list "198.18.0.1": "198.18.0.1" is not a CIDR`},
		{"IPv6 CIDR without --ipv6", []string{"init", "--dry-run", "--skip-outbound-cidrs=fd00::/8"}, "", "IPv6 rules are off"},
		{"root UID", []string{"init", "--dry-run", "--proxy-uid=0"}, "", "proxy UID 0"},
		{"UID too big", []string{"init", "--dry-run", "--proxy-uid=4294967296"}, "", "a UID fits in 32 bits"},
		{"port out of range", []string{"init", "--dry-run", "--outbound-port=70000"}, "", "outbound port: 70000 is not a TCP port"},
		{"bad mode", []string{"init", "--dry-run", "--iptables-mode=nftables"}, "", "--iptables-mode: iptables mode \"nftables\": want auto, native, nft or legacy"},
		{"stray argument", []string{"init", "--dry-run", "now"}, "", `proxy init takes no arguments, got "now"`},
		{"unknown flag", []string{"init", "--dryrun"}, "", "flag provided but not defined: -dryrun"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("run(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run(%q): %v", tc.args, err)
			}
			if stdout.String() != tc.stdout {
				t.Fatalf("run(%q) printed\n%s\nwant\n%s", tc.args, stdout.String(), tc.stdout)
			}
		})
	}
}

// proxy init, run twice in a network namespace of the test's own, installs then rebuilds, with
// each backend: iptables-nft, native, and auto, which in a fresh namespace is native; and as in
// a pod of our images, with no binary to run at all.
func TestInitInNamespace(t *testing.T) {
	netnstest.Require(t)
	for _, tc := range []struct {
		name, mode, backend string
		noBinaries          bool
	}{
		{"nft", "nft", "iptables-nft", false},
		{"native", "native", iptables.NativeBackend, false},
		{"auto", "auto", iptables.NativeBackend, false},
		{"auto without binaries", "auto", iptables.NativeBackend, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mode == "nft" {
				netnstest.Require(t, "iptables-nft-restore")
			}
			ns := netnstest.New(t)
			if tc.noBinaries {
				// Restored before the namespace goes: clean-ups run last first.
				t.Setenv("PATH", t.TempDir())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var printed []string
			for _, verb := range []string{"installed", "rebuilt"} {
				var stdout, stderr bytes.Buffer
				if err := ns.Do(func() error {
					return run(ctx, []string{"init", "--iptables-mode=" + tc.mode}, &stdout, &stderr)
				}); err != nil {
					t.Fatalf("proxy init: %v", err)
				}
				want := "proxy init: " + verb + " the rules with " + tc.backend + "\n"
				if !strings.HasPrefix(stdout.String(), want) {
					t.Fatalf("proxy init printed\n%s\nwant it to start with %q", stdout.String(), want)
				}
				printed = append(printed, strings.TrimPrefix(stdout.String(), want))
			}
			if tc.backend != iptables.NativeBackend {
				saved, err := ns.Run(ctx, "iptables-nft-save", "-t", "nat")
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(saved, "-j "+iptables.ChainOutput+"\n"); n != 1 {
					t.Fatalf("%d jumps to %s after two runs, want 1:\n%s", n, iptables.ChainOutput, saved)
				}
				return
			}
			// What the log shows is what the kernel holds, which is what the dry run printed.
			var tables string
			if err := ns.Do(func() (err error) {
				tables, err = iptables.ReadNative()
				return err
			}); err != nil {
				t.Fatal(err)
			}
			want := iptables.NativeRules(iptables.DefaultConfig())
			if tables != want || printed[0] != want || printed[1] != want {
				t.Fatalf("after two runs the kernel holds\n%s\nthe runs printed\n%s\n%s\nwant\n%s", tables, printed[0], printed[1], want)
			}
		})
	}
}
