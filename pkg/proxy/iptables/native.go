package iptables

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The native backend's names. It owns one nftables table per address family, "ip meshfed"
// (and "ip6 meshfed" with Config.IPv6), each with two base chains of type nat: prerouting
// for the TCP arriving for the pod and output for the pod's own. Nothing outside those
// tables is ours, so the backend never has to look at anything else.
const (
	NativeTable           = "meshfed"
	NativeChainPrerouting = "prerouting"
	NativeChainOutput     = "output"
	// NativeBackend is Result.Backend when the rules went in through netlink.
	NativeBackend = "native nftables"
)

func (f family) table() *nftables.Table {
	if f == ipv6 {
		return &nftables.Table{Name: NativeTable, Family: nftables.TableFamilyIPv6}
	}
	return &nftables.Table{Name: NativeTable, Family: nftables.TableFamilyIPv4}
}

// nftName is the family as nft spells it: "ip" or "ip6".
func (f family) nftName() string {
	if f == ipv6 {
		return "ip6"
	}
	return "ip"
}

func (f family) loopbackPrefix() netip.Prefix { return netip.MustParsePrefix(f.loopback()) }

// nativeChains are our table's two base chains. They hook where iptables' nat PREROUTING and
// OUTPUT do (priority -100, "dstnat"), and accept by default: a rule that matches nothing
// leaves the packet as it was.
func nativeChains(t *nftables.Table) []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return []*nftables.Chain{
		{Name: NativeChainPrerouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		{Name: NativeChainOutput, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
	}
}

// nativeRules are Rules' rules for one family as nftables rules, in the same order and with the
// same comments: prerouting returns for the skipped inbound ports and redirects the rest of TCP
// to the inbound port; output returns for the proxy's UID, loopback, and the skipped outbound
// ports and CIDRs, and redirects the rest of TCP to the outbound port. One rule per exception
// rather than sets, so each carries its comment, as each iptables rule does.
func nativeRules(cfg Config, fam family, pre, out *nftables.Chain) []*nftables.Rule {
	var rules []*nftables.Rule
	add := func(chain *nftables.Chain, comment string, parts ...[]expr.Any) {
		var exprs []expr.Any
		for _, p := range parts {
			exprs = append(exprs, p...)
		}
		rules = append(rules, &nftables.Rule{Table: chain.Table, Chain: chain, Exprs: exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
	}
	ret := []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}

	for _, r := range cfg.SkipInboundPorts {
		add(pre, "meshfed: inbound port "+r.String()+" skips the proxy", isTCP(), dport(r), ret)
	}
	add(pre, "meshfed: inbound TCP to the proxy", isTCP(), redirectTo(cfg.InboundPort))

	add(out, "meshfed: traffic of the proxy itself", skuid(cfg.ProxyUID), ret)
	add(out, "meshfed: loopback interface", oifname("lo"), ret)
	add(out, "meshfed: loopback destination", daddr(fam, fam.loopbackPrefix()), ret)
	for _, r := range cfg.SkipOutboundPorts {
		add(out, "meshfed: outbound port "+r.String()+" skips the proxy", isTCP(), dport(r), ret)
	}
	for _, p := range cfg.SkipOutboundCIDRs {
		if p.Addr().Is6() != (fam == ipv6) {
			continue
		}
		p = p.Masked()
		add(out, "meshfed: outbound CIDR "+p.String()+" skips the proxy", daddr(fam, p), ret)
	}
	add(out, "meshfed: outbound TCP to the proxy", isTCP(), redirectTo(cfg.OutboundPort))
	return rules
}

// The matches and statements of nativeRules, each as nft writes it (nft --debug=netlink shows
// the same expressions). Everything goes through register 1.

// isTCP is `meta l4proto tcp`.
func isTCP() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

// dport is `th dport 4191` or `th dport 9000-9010`; after isTCP nft prints `tcp dport`.
func dport(r PortRange) []expr.Any {
	load := &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	if r.First == r.Last {
		return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(r.First)}}
	}
	return []expr.Any{load,
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: be16(r.First)},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: be16(r.Last)},
	}
}

// daddr is `ip daddr 198.18.0.0/15` (or ip6): the destination address, masked unless the
// prefix is a single address.
func daddr(fam family, p netip.Prefix) []expr.Any {
	off, size := uint32(16), uint32(4)
	if fam == ipv6 {
		off, size = 24, 16
	}
	exprs := []expr.Any{&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size}}
	if p.Bits() < p.Addr().BitLen() {
		exprs = append(exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size,
			Mask: prefixMask(p.Bits(), int(size)), Xor: make([]byte, size)})
	}
	return append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

// skuid is `meta skuid 2102`: the UID owning the socket, as the owner match reads it (the
// socket file's fsuid), in host byte order.
func skuid(uid uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(uid)},
	}
}

// oifname is `oifname "lo"`: by name, as iptables' -o matches, padded to IFNAMSIZ.
func oifname(name string) []expr.Any {
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

// redirectTo is `redirect to :4143`: the port in a register, and redir with the flag saying
// a port was given, as nft sets it (the kernel would set it too, and dump it back).
func redirectTo(port int) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: be16(port)},
		&expr.Redir{RegisterProtoMin: 1, RegisterProtoMax: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED},
	}
}

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func prefixMask(bits, size int) []byte {
	mask := make([]byte, size)
	for i := 0; i < bits; i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

// nativeTable is our table for one family as planned: its chains and rules.
type nativeTable struct {
	table  *nftables.Table
	chains []*nftables.Chain
	rules  map[string][]*nftables.Rule // by chain name
}

func planNative(cfg Config, fam family) nativeTable {
	t := fam.table()
	chains := nativeChains(t)
	nt := nativeTable{table: t, chains: chains, rules: map[string][]*nftables.Rule{}}
	for _, r := range nativeRules(cfg, fam, chains[0], chains[1]) {
		nt.rules[r.Chain.Name] = append(nt.rules[r.Chain.Name], r)
	}
	return nt
}

// NativeRules is what the native backend installs for cfg, as `nft list table ip meshfed`
// prints it (and `nft -f` reads it): the ip table, and the ip6 table with Config.IPv6.
// `proxy init --iptables-mode=native --dry-run` prints it. It is made from the very expressions
// Apply sends, by the reading that renders what the kernel holds after Apply, so a difference
// between the two is a difference in the kernel. cfg should be valid; NativeRules checks
// nothing.
func NativeRules(cfg Config) string {
	var b strings.Builder
	for _, fam := range cfg.families() {
		b.WriteString(planNative(cfg, fam).String())
	}
	return b.String()
}

func (c Config) families() []family {
	if c.IPv6 {
		return []family{ipv4, ipv6}
	}
	return []family{ipv4}
}
