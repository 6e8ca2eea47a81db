package iptables

import (
	"flag"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/meshfed/meshfed/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRules(t *testing.T) {
	full := DefaultConfig()
	full.ProxyUID = 2103
	full.OutboundPort, full.InboundPort = 14140, 14143
	full.SkipInboundPorts = []PortRange{Port(4190), Port(4191), {9000, 9010}}
	full.SkipOutboundPorts = []PortRange{Port(25), {3306, 3307}}
	full.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("10.96.0.0/12")}
	full.IPv6 = true

	none := DefaultConfig()
	none.SkipInboundPorts = nil

	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"no-skips", none},
		{"full", full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".rules"), Rules(tc.cfg), *update)
			golden.Check(t, filepath.Join("testdata", tc.name+".rules6"), Rules6(tc.cfg), *update)
			// The native backend's tables for the same config: the ip table, and the ip6
			// table where IPv6 is on.
			golden.Check(t, filepath.Join("testdata", tc.name+".nft"), NativeRules(tc.cfg), *update)
		})
	}
}
