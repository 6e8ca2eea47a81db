package iptables

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// String is the table as `nft list table` prints it. The rules are read from their
// expressions, not from a description kept beside them, so that a table read back from the
// kernel prints what the kernel holds. The reading knows the expressions this package writes;
// any other shows as its name in brackets, [counter] say, so nothing goes unseen.
func (t nativeTable) String() string {
	fam := ipv4
	if t.table.Family == nftables.TableFamilyIPv6 {
		fam = ipv6
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", fam.nftName(), t.table.Name)
	for i, c := range t.chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if h := chainHeader(c); h != "" {
			fmt.Fprintf(&b, "\t\t%s\n", h)
		}
		for _, r := range t.rules[c.Name] {
			fmt.Fprintf(&b, "\t\t%s\n", describeRule(fam, r))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// chainHeader is a base chain's "type nat hook prerouting priority dstnat; policy accept;",
// or nothing for a regular chain.
func chainHeader(c *nftables.Chain) string {
	if c.Hooknum == nil || c.Priority == nil {
		return ""
	}
	hooks := map[nftables.ChainHook]string{
		unix.NF_INET_PRE_ROUTING: "prerouting", unix.NF_INET_LOCAL_IN: "input", unix.NF_INET_FORWARD: "forward",
		unix.NF_INET_LOCAL_OUT: "output", unix.NF_INET_POST_ROUTING: "postrouting",
	}
	hook, ok := hooks[*c.Hooknum]
	if !ok {
		hook = strconv.FormatUint(uint64(*c.Hooknum), 10)
	}
	prio := strconv.FormatInt(int64(*c.Priority), 10)
	// nft names -100 "dstnat" only where it accepts the name back, in prerouting.
	if *c.Priority == *nftables.ChainPriorityNATDest && *c.Hooknum == unix.NF_INET_PRE_ROUTING {
		prio = "dstnat"
	}
	h := fmt.Sprintf("type %s hook %s priority %s;", c.Type, hook, prio)
	if c.Policy != nil {
		policy := "accept"
		if *c.Policy == nftables.ChainPolicyDrop {
			policy = "drop"
		}
		h += " policy " + policy + ";"
	}
	return h
}

// describeRule reads a rule's expressions back as nft statements, as nft prints them: a
// `meta l4proto tcp` followed by a port match folds into `tcp dport`, and the comment comes
// last.
func describeRule(fam family, r *nftables.Rule) string {
	var words []string
	// l4 is a `meta l4proto` match not yet written, which a port match may fold in.
	var l4 string
	flush := func() {
		if l4 != "" {
			words = append(words, "meta l4proto "+l4)
			l4 = ""
		}
	}
	ex := r.Exprs
	for i := 0; i < len(ex); {
		st := describeAt(fam, ex[i:], l4)
		switch {
		case st.n == 0:
			flush()
			words = append(words, "["+exprName(ex[i])+"]")
			i++
			continue
		case st.proto != "":
			flush()
			l4 = st.proto
		case st.foldsL4:
			l4 = ""
			words = append(words, st.words)
		default:
			flush()
			words = append(words, st.words)
		}
		i += st.n
	}
	flush()
	if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		words = append(words, "comment "+strconv.Quote(c))
	}
	return strings.Join(words, " ")
}

// statement is what describeAt read: n expressions, as words; or, for a protocol match, the
// protocol alone, which a port match after it may fold in (foldsL4).
type statement struct {
	n       int
	words   string
	proto   string
	foldsL4 bool
}

// describeAt reads the statement at the start of ex, or returns n == 0 when it is none this
// package writes. l4 is the protocol matched just before and not yet written, if any.
func describeAt(fam family, ex []expr.Any, l4 string) statement {
	cmpAt := func(i int, reg uint32) *expr.Cmp {
		if i < len(ex) {
			if c, ok := ex[i].(*expr.Cmp); ok && c.Register == reg {
				return c
			}
		}
		return nil
	}
	switch e := ex[0].(type) {
	case *expr.Meta:
		c := cmpAt(1, e.Register)
		if e.SourceRegister || c == nil || c.Op != expr.CmpOpEq {
			break
		}
		switch {
		case e.Key == expr.MetaKeyL4PROTO && len(c.Data) == 1:
			return statement{n: 2, proto: protoName(c.Data[0])}
		case e.Key == expr.MetaKeySKUID && len(c.Data) == 4:
			return statement{n: 2, words: "meta skuid " + strconv.FormatUint(uint64(binaryutil.NativeEndian.Uint32(c.Data)), 10)}
		case e.Key == expr.MetaKeyOIFNAME:
			return statement{n: 2, words: "oifname " + strconv.Quote(string(bytes.TrimRight(c.Data, "\x00")))}
		}
	case *expr.Payload:
		if e.OperationType != expr.PayloadLoad {
			break
		}
		if e.Base == expr.PayloadBaseNetworkHeader {
			return describeAddr(fam, e, ex[1:])
		}
		port, ok := map[uint32]string{0: "sport", 2: "dport"}[e.Offset]
		c := cmpAt(1, e.DestRegister)
		if e.Base != expr.PayloadBaseTransportHeader || e.Len != 2 || !ok || c == nil || len(c.Data) != 2 {
			break
		}
		// Without a protocol match before it, nft calls the transport header th.
		st := statement{words: "th " + port + " ", foldsL4: l4 != ""}
		if st.foldsL4 {
			st.words = l4 + " " + port + " "
		}
		if c.Op == expr.CmpOpEq {
			st.n, st.words = 2, st.words+strconv.Itoa(int(binary.BigEndian.Uint16(c.Data)))
			return st
		}
		if hi := cmpAt(2, e.DestRegister); c.Op == expr.CmpOpGte && hi != nil && hi.Op == expr.CmpOpLte && len(hi.Data) == 2 {
			st.n, st.words = 3, st.words+fmt.Sprintf("%d-%d", binary.BigEndian.Uint16(c.Data), binary.BigEndian.Uint16(hi.Data))
			return st
		}
	case *expr.Immediate:
		if len(ex) < 2 || len(e.Data) != 2 {
			break
		}
		if r, ok := ex[1].(*expr.Redir); ok && r.RegisterProtoMin == e.Register &&
			(r.RegisterProtoMax == 0 || r.RegisterProtoMax == e.Register) && r.Flags&^unix.NF_NAT_RANGE_PROTO_SPECIFIED == 0 {
			return statement{n: 2, words: "redirect to :" + strconv.Itoa(int(binary.BigEndian.Uint16(e.Data)))}
		}
	case *expr.Redir:
		if e.RegisterProtoMin == 0 && e.RegisterProtoMax == 0 {
			return statement{n: 1, words: "redirect"}
		}
	case *expr.Verdict:
		words := map[expr.VerdictKind]string{expr.VerdictReturn: "return", expr.VerdictAccept: "accept",
			expr.VerdictDrop: "drop", expr.VerdictContinue: "continue",
			expr.VerdictJump: "jump " + e.Chain, expr.VerdictGoto: "goto " + e.Chain}[e.Kind]
		if words != "" {
			return statement{n: 1, words: words}
		}
	}
	return statement{}
}

// describeAddr reads `ip daddr 198.18.0.0/15`: a load of the whole address, maybe masked to a
// prefix, compared for equality.
func describeAddr(fam family, load *expr.Payload, rest []expr.Any) statement {
	fields := map[uint32]string{12: "ip saddr", 16: "ip daddr"}
	size := 4
	if fam == ipv6 {
		fields, size = map[uint32]string{8: "ip6 saddr", 24: "ip6 daddr"}, 16
	}
	field, ok := fields[load.Offset]
	if !ok || load.Len != uint32(size) {
		return statement{}
	}
	n, prefixLen := 1, size*8
	if len(rest) > 0 {
		if bw, ok := rest[0].(*expr.Bitwise); ok {
			if bw.SourceRegister != load.DestRegister || bw.DestRegister != load.DestRegister || bw.Len != uint32(size) ||
				!bytes.Equal(bw.Xor, make([]byte, size)) || len(bw.Mask) != size {
				return statement{}
			}
			if prefixLen = maskBits(bw.Mask); prefixLen < 0 {
				return statement{}
			}
			n++
			rest = rest[1:]
		}
	}
	if len(rest) == 0 {
		return statement{}
	}
	c, ok := rest[0].(*expr.Cmp)
	if !ok || c.Register != load.DestRegister || c.Op != expr.CmpOpEq || len(c.Data) != size {
		return statement{}
	}
	addr, _ := netip.AddrFromSlice(c.Data)
	if prefixLen == size*8 {
		return statement{n: n + 1, words: field + " " + addr.String()}
	}
	return statement{n: n + 1, words: field + " " + netip.PrefixFrom(addr, prefixLen).String()}
}

// maskBits is the length of the prefix mask, or -1 when mask is not one.
func maskBits(mask []byte) int {
	n := 0
	for i, b := range mask {
		if b == 0xff {
			n += 8
			continue
		}
		ones := bits.LeadingZeros8(^b)
		if b != byte(0xff<<(8-ones)) {
			return -1
		}
		for _, rest := range mask[i+1:] {
			if rest != 0 {
				return -1
			}
		}
		return n + ones
	}
	return n
}

func protoName(p byte) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// exprName is an expression's type as nft --debug=netlink would name it: [counter], [lookup].
func exprName(e expr.Any) string {
	name := fmt.Sprintf("%T", e)
	return strings.ToLower(name[strings.LastIndex(name, ".")+1:])
}
