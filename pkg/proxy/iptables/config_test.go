package iptables

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	valid := DefaultConfig
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string // a part of the error; empty when valid
	}{
		{"default", func(*Config) {}, ""},
		{"everything set", func(c *Config) {
			c.SkipOutboundPorts = []PortRange{Port(25), {3306, 3307}}
			c.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00::/8")}
			c.IPv6 = true
		}, ""},
		{"root UID", func(c *Config) { c.ProxyUID = 0 }, "proxy UID 0"},
		{"no UID", func(c *Config) { c.ProxyUID = 1<<32 - 1 }, "proxy UID 4294967295"},
		{"outbound port 0", func(c *Config) { c.OutboundPort = 0 }, "outbound port: 0 is not a TCP port"},
		{"inbound port too big", func(c *Config) { c.InboundPort = 65536 }, "inbound port: 65536 is not a TCP port"},
		{"one port for both", func(c *Config) { c.InboundPort = c.OutboundPort }, "both 4140"},
		{"reversed range", func(c *Config) { c.SkipOutboundPorts = []PortRange{{20, 10}} }, "ends before it starts"},
		{"skip port out of range", func(c *Config) { c.SkipInboundPorts = []PortRange{Port(-1)} }, "-1 is not a TCP port"},
		{"skipping the inbound port", func(c *Config) { c.SkipInboundPorts = []PortRange{{4140, 4150}} }, "holds the proxy's inbound port 4143"},
		{"zero prefix", func(c *Config) { c.SkipOutboundCIDRs = []netip.Prefix{{}} }, "is not a CIDR"},
		{"IPv6 CIDR without IPv6", func(c *Config) { c.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00::/8")} }, "IPv6 rules are off"},
		{"mapped IPv4 CIDR", func(c *Config) {
			c.IPv6 = true
			c.SkipOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}
		}, "write it as IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.modify(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Every problem is reported at once, so one run of proxy init shows them all.
func TestValidateJoinsErrors(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("the zero Config is valid")
	}
	for _, want := range []string{"proxy UID 0", "outbound port", "inbound port", "both 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []PortRange
		wantErr string
	}{
		{"", nil, ""},
		{" , ", nil, ""},
		{"4190,4191", []PortRange{Port(4190), Port(4191)}, ""},
		{" 25 , 3306-3307 ", []PortRange{Port(25), {3306, 3307}}, ""},
		{"1,65535", []PortRange{Port(1), Port(65535)}, ""},
		{"0", nil, "0 is not a TCP port"},
		{"65536", nil, "65536 is not a TCP port"},
		{"http", nil, `"http" is not a port number`},
		{"10-", nil, `"" is not a port number`},
		{"20-10", nil, "ends before it starts"},
		{"1-2-3", nil, `"2-3" is not a port number`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePorts(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParsePorts(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParsePorts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if again, err := ParsePorts(FormatPorts(got)); err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("FormatPorts(%v) = %q, which parses to %v, %v", got, FormatPorts(got), again, err)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"198.18.0.0/15", []string{"198.18.0.0/15"}, ""},
		{"10.1.2.3/8, fd00::1/8", []string{"10.0.0.0/8", "fd00::/8"}, ""},
		{"198.18.0.1", nil, `"198.18.0.1" is not a CIDR`},
		{"198.18.0.0/33", nil, "is not a CIDR"},
		{"example.com/24", nil, "is not a CIDR"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCIDRs(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseCIDRs(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if err != nil || !reflect.DeepEqual(gotS, tc.want) {
				t.Fatalf("ParseCIDRs(%q) = %v, %v; want %v", tc.in, gotS, err, tc.want)
			}
		})
	}
}
