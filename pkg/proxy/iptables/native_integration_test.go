package iptables_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/meshfed/meshfed/internal/netnstest"
	"github.com/meshfed/meshfed/pkg/proxy/iptables"
	"github.com/meshfed/meshfed/pkg/proxy/origdst"
)

// The foreign nftables rules the native backend must keep: a table of another name, and a
// table of our name in a family that is not ours (inet).
var (
	foreignTable = &nftables.Table{Name: "other", Family: nftables.TableFamilyIPv4}
	foreignInet  = &nftables.Table{Name: iptables.NativeTable, Family: nftables.TableFamilyINet}
)

func nativeBackend() backend {
	return backend{
		mode: iptables.ModeNative,
		name: iptables.NativeBackend,
		addForeign: func(_ context.Context, t *testing.T, pod *netnstest.NS) {
			if err := pod.Do(addForeignTables); err != nil {
				t.Fatalf("adding the foreign tables: %v", err)
			}
		},
		save: func(_ context.Context, t *testing.T, pod *netnstest.NS) string {
			t.Helper()
			var out string
			if err := pod.Do(func() (err error) {
				out, err = iptables.ReadNative()
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return out
		},
		checkOnce: func(t *testing.T, pod *netnstest.NS, saved string, cfg iptables.Config) {
			t.Helper()
			// The tables as the kernel holds them are, word for word, what the dry run
			// prints: nothing doubled, nothing left over, nothing missing.
			if want := iptables.NativeRules(cfg); saved != want {
				t.Errorf("the kernel holds\n%s\nwant\n%s", saved, want)
			}
			checkTables(t, pod, []string{"inet meshfed", "ip meshfed", "ip other"})
		},
		skipsPort: func(p int) string { return fmt.Sprintf("tcp dport %d return", p) },
	}
}

// addForeignTables makes, in the current network namespace, the foreign tables: "ip other"
// with a filter chain on output and one rule, and "inet meshfed" with an empty chain.
func addForeignTables() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	c.AddTable(foreignTable)
	out := c.AddChain(&nftables.Chain{Name: "output", Table: foreignTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	// ip daddr 198.18.251.0/24 accept
	c.AddRule(&nftables.Rule{Table: foreignTable, Chain: out, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 0}, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{198, 18, 251, 0}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	c.AddTable(foreignInet)
	c.AddChain(&nftables.Chain{Name: "keep", Table: foreignInet})
	return c.Flush()
}

// checkTables checks, through nftables' List APIs, that the pod holds exactly the tables want
// ("family name", sorted), and, where want has them, that the foreign ones are as
// addForeignTables made them.
func checkTables(t *testing.T, pod *netnstest.NS, want []string) {
	t.Helper()
	var got []string
	var foreignRules []*nftables.Rule
	var foreignChains []string
	err := pod.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		if err != nil {
			return err
		}
		names := map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6", nftables.TableFamilyINet: "inet"}
		for _, tb := range tables {
			got = append(got, names[tb.Family]+" "+tb.Name)
		}
		if !slices.Contains(got, "ip other") || !slices.Contains(got, "inet meshfed") {
			return nil
		}
		if foreignRules, err = c.GetRules(foreignTable, &nftables.Chain{Name: "output"}); err != nil {
			return err
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		for _, ch := range chains {
			foreignChains = append(foreignChains, ch.Table.Name+"/"+ch.Name)
		}
		return err
	})
	if err != nil {
		t.Fatalf("listing the tables: %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the pod holds the tables %q, want %q", got, want)
	}
	if !slices.Contains(want, "ip other") {
		return
	}
	if len(foreignRules) != 1 || len(foreignRules[0].Exprs) != 4 {
		t.Errorf("the foreign table's chain holds %d rules, want its one rule of 4 expressions", len(foreignRules))
	}
	if !slices.Equal(foreignChains, []string{"meshfed/keep"}) {
		t.Errorf("table inet meshfed holds the chains %q, want its one chain, keep", foreignChains)
	}
}

// The ip6 table comes with IPv6 and goes without it; with IPv6, IPv6 connections are
// redirected as IPv4 ones are.
func TestNativeIPv6(t *testing.T) {
	netnstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pod, peer := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, pod, podAddr, peer, peerAddr)
	// nodad: the addresses are usable at once, without duplicate address detection's wait.
	for _, step := range []struct {
		ns   *netnstest.NS
		addr string
	}{{pod, "fd00:198:18::1/64"}, {peer, "fd00:198:18::2/64"}} {
		if _, err := step.ns.Run(ctx, "ip", "addr", "add", step.addr, "dev", "veth0", "nodad"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := iptables.DefaultConfig()
	cfg.IPv6 = true
	cfg.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00:198:18::3/128")}
	apply := func(cfg iptables.Config) (res iptables.Result, tables string) {
		t.Helper()
		if err := pod.Do(func() (err error) {
			if res, err = iptables.Apply(ctx, cfg, iptables.Options{Mode: iptables.ModeNative}); err != nil {
				return err
			}
			tables, err = iptables.ReadNative()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return res, tables
	}

	res, tables := apply(cfg)
	if tables != iptables.NativeRules(cfg) || res.Applied+res.Applied6 != tables {
		t.Fatalf("with IPv6 the kernel holds\n%s\nApply reported\n%s%s\nwant\n%s", tables, res.Applied, res.Applied6, iptables.NativeRules(cfg))
	}
	checkTables(t, pod, []string{"ip meshfed", "ip6 meshfed"})

	outbound := pod.Listen(t, "[::]:4140")
	app := peer.Listen(t, "[fd00:198:18::2]:8080")
	const dest = "[fd00:198:18::2]:8080"
	for _, tc := range []struct {
		uid        int
		reaches    *net.TCPListener
		redirected bool
	}{{-1, outbound, true}, {iptables.DefaultProxyUID, app, false}} {
		c, err := pod.Dial(ctx, tc.uid, dest)
		if err != nil {
			t.Fatal(err)
		}
		local := c.LocalAddr().String()
		c.Close()
		tc.reaches.SetDeadline(time.Now().Add(3 * time.Second))
		s, err := tc.reaches.AcceptTCP()
		if err != nil {
			t.Fatalf("UID %d: the connection to %s did not reach %s: %v", tc.uid, dest, tc.reaches.Addr(), err)
		}
		if s.RemoteAddr().String() != local {
			t.Errorf("UID %d: %s accepted %s, want the test's connection from %s", tc.uid, tc.reaches.Addr(), s.RemoteAddr(), local)
		}
		if orig, err := origdst.OriginalDestination(s); tc.redirected && (err != nil || orig.String() != dest) {
			t.Errorf("UID %d: OriginalDestination = %v, %v; want %s", tc.uid, orig, err, dest)
		}
		s.Close()
	}

	cfg.IPv6 = false
	cfg.SkipOutboundCIDRs = nil
	if res, tables := apply(cfg); tables != iptables.NativeRules(cfg) || res.Applied6 != "" || strings.Contains(tables, "ip6") {
		t.Fatalf("without IPv6 the kernel holds\n%s\nwant\n%s", tables, iptables.NativeRules(cfg))
	}
	checkTables(t, pod, []string{"ip meshfed"})
}

// dropNetAdmin takes CAP_NET_ADMIN from the calling thread only: capset(2) changes the
// credentials of one thread, and Go calls it directly, unlike setuid.
func dropNetAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	bit := uint32(1) << unix.CAP_NET_ADMIN
	data[0].Effective &^= bit
	data[0].Permitted &^= bit
	data[0].Inheritable &^= bit
	return unix.Capset(&hdr, &data[0])
}
