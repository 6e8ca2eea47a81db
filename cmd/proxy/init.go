package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/meshfed/meshfed/pkg/proxy/iptables"
)

// runInit is `proxy init`: it installs the pod's redirect rules (package pkg/proxy/iptables) in
// the network namespace it runs in, or prints them with --dry-run. Our images have no iptables
// binary, so in a pod of ours the default mode, auto, programs them as nftables tables through
// netlink (the native backend), unless the pod holds meshfed iptables chains already, which it
// then keeps using.
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := iptables.DefaultConfig()
	fs := flag.NewFlagSet("proxy init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	uid := fs.Uint("proxy-uid", uint(def.ProxyUID), "UID the proxy runs as: its own connections are not redirected")
	outbound := fs.Int("outbound-port", def.OutboundPort, "port of the proxy's outbound listener, which gets the pod's outbound TCP")
	inbound := fs.Int("inbound-port", def.InboundPort, "port of the proxy's inbound listener, which gets the TCP that arrives for the pod")
	skipIn := fs.String("skip-inbound-ports", iptables.FormatPorts(def.SkipInboundPorts), "inbound ports that reach the pod without the proxy: comma-separated ports and ranges, e.g. 4190,4191,9000-9010")
	skipOut := fs.String("skip-outbound-ports", iptables.FormatPorts(def.SkipOutboundPorts), "outbound ports reached without the proxy, e.g. 25,3306-3307")
	skipCIDRs := fs.String("skip-outbound-cidrs", "", "outbound destinations reached without the proxy: comma-separated CIDRs, e.g. 198.18.0.0/15")
	ipv6 := fs.Bool("ipv6", def.IPv6, "write the rules for IPv6 too (the ip6 table, or ip6tables)")
	mode := fs.String("iptables-mode", string(iptables.ModeAuto), "backend: native (nftables through netlink, no binary needed), nft or legacy (iptables-restore), or auto: the backend holding our rules already, else native where nftables works")
	dryRun := fs.Bool("dry-run", false, "print the rules and change nothing: as 'nft list table' prints them (native and auto), or as iptables-restore input (nft and legacy)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (iptables-legacy may wait for the node's xtables lock)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("proxy init takes no arguments, got %q: flags go before them, as --name=value", strings.Join(fs.Args(), " "))
	}

	cfg := iptables.Config{OutboundPort: *outbound, InboundPort: *inbound, IPv6: *ipv6}
	if *uid > math.MaxUint32 {
		return fmt.Errorf("--proxy-uid=%d: a UID fits in 32 bits", *uid)
	}
	cfg.ProxyUID = uint32(*uid)
	var err error
	if cfg.SkipInboundPorts, err = iptables.ParsePorts(*skipIn); err != nil {
		return fmt.Errorf("--skip-inbound-ports: %w", err)
	}
	if cfg.SkipOutboundPorts, err = iptables.ParsePorts(*skipOut); err != nil {
		return fmt.Errorf("--skip-outbound-ports: %w", err)
	}
	if cfg.SkipOutboundCIDRs, err = iptables.ParseCIDRs(*skipCIDRs); err != nil {
		return fmt.Errorf("--skip-outbound-cidrs: %w", err)
	}
	m, err := iptables.ParseMode(*mode)
	if err != nil {
		return fmt.Errorf("--iptables-mode: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("proxy init: %w", err)
	}

	if *dryRun {
		switch m {
		case iptables.ModeAuto:
			fmt.Fprint(stdout, autoDryRunNote+iptables.NativeRules(cfg))
		case iptables.ModeNative:
			fmt.Fprint(stdout, iptables.NativeRules(cfg))
		default:
			fmt.Fprint(stdout, iptables.Rules(cfg))
			if cfg.IPv6 {
				fmt.Fprint(stdout, "# ip6tables-restore\n"+iptables.Rules6(cfg))
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := iptables.Apply(ctx, cfg, iptables.Options{Mode: m})
	if err != nil {
		return err
	}
	verb := "installed"
	if res.Rebuilt {
		verb = "rebuilt"
	}
	// The rules go to the init container's log: what `kubectl logs` shows is then what the
	// pod got. For iptables that is the transaction iptables-restore took; for the native
	// backend, our tables as read back from the kernel after the batch.
	fmt.Fprintf(stdout, "proxy init: %s the rules with %s\n%s", verb, res.Backend, res.Applied)
	if res.Applied6 != "" {
		if res.Backend != iptables.NativeBackend {
			fmt.Fprint(stdout, "# ip6tables-restore\n")
		}
		fmt.Fprint(stdout, res.Applied6)
	}
	return nil
}

// autoDryRunNote heads the dry run of auto mode, which cannot know the pod it will run in.
const autoDryRunNote = "# auto: a pod gets these nftables tables, unless it holds meshfed iptables chains already,\n" +
	"# which it keeps (--iptables-mode=nft --dry-run prints those rules)\n"
