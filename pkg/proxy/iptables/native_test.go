package iptables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/meshfed/meshfed/internal/netnstest"
)

// fakeNative is the kernel's nftables as the tests of Apply's choice need it: which of our
// tables are there, or an error, and what install was given. read gives back what install put.
type fakeNative struct {
	present    map[family]bool
	err        error // from ours
	installErr error

	installs  int
	installed map[family]nativeTable
	dropped   []family
}

func (f *fakeNative) ours() (map[family]bool, error) { return f.present, f.err }

func (f *fakeNative) install(tables []nativeTable, drop []family) error {
	f.installs++
	if f.installErr != nil {
		return f.installErr
	}
	f.installed = map[family]nativeTable{}
	for _, t := range tables {
		fam := ipv4
		if t.table.Family == nftables.TableFamilyIPv6 {
			fam = ipv6
		}
		f.installed[fam] = t
	}
	f.dropped = drop
	return nil
}

func (f *fakeNative) read(fam family) (nativeTable, bool, error) {
	t, ok := f.installed[fam]
	return t, ok, nil
}

// noNative is a kernel without nf_tables: Apply then chooses among the iptables as it did
// before there was a native backend.
func noNative() *fakeNative {
	return &fakeNative{err: errors.New("nf_tables: protocol not supported")}
}

func TestApplyAutoPrefersNative(t *testing.T) {
	cfg := DefaultConfig()
	cfg6 := DefaultConfig()
	cfg6.IPv6 = true
	ours := map[family]bool{ipv4: true}
	both := map[family]bool{ipv4: true, ipv6: true}
	nftWorks := map[string]answer{"iptables-nft-save": {out: emptyNat}, "iptables-nft-restore": {}}

	for _, tc := range []struct {
		name    string
		cfg     Config
		mode    Mode
		native  *fakeNative
		answers map[string]answer
		backend string
		rebuilt bool
		dropped []family
		// probed: whether an iptables binary was run at all.
		probed bool
	}{
		{
			name:   "a pod of our images: no iptables binary",
			cfg:    cfg,
			native: &fakeNative{}, answers: map[string]answer{},
			backend: NativeBackend, probed: true,
		},
		{
			name:   "a fresh namespace with iptables-nft too",
			cfg:    cfg,
			native: &fakeNative{}, answers: nftWorks,
			backend: NativeBackend, probed: true,
		},
		{
			name:   "other nat rules in iptables do not hold native back",
			cfg:    cfg,
			native: &fakeNative{}, answers: map[string]answer{"iptables-nft-save": {out: strings.Replace(emptyNat, "COMMIT", "-A OUTPUT -d 198.18.0.1/32 -j RETURN\nCOMMIT", 1)}},
			backend: NativeBackend, probed: true,
		},
		{
			name:   "our chains in iptables-nft keep iptables-nft",
			cfg:    cfg,
			native: &fakeNative{}, answers: map[string]answer{"iptables-nft-save": {out: installed}, "iptables-nft-restore": {}},
			backend: "iptables-nft", rebuilt: true, probed: true,
		},
		{
			name:   "our chains in iptables-legacy keep iptables-legacy",
			cfg:    cfg,
			native: &fakeNative{}, answers: map[string]answer{"iptables-nft-save": {out: emptyNat}, "iptables-legacy-save": {out: installed}, "iptables-legacy-restore": {}},
			backend: "iptables-legacy", rebuilt: true, probed: true,
		},
		{
			name:   "our tables there: native again, no binary run",
			cfg:    cfg,
			native: &fakeNative{present: ours}, answers: map[string]answer{"iptables-nft-save": {out: installed}},
			backend: NativeBackend, rebuilt: true,
		},
		{
			name:   "forced native even where iptables holds our chains",
			cfg:    cfg,
			mode:   ModeNative,
			native: &fakeNative{}, answers: map[string]answer{"iptables-nft-save": {out: installed}},
			backend: NativeBackend,
		},
		{
			name:   "forced nft even where native works",
			cfg:    cfg,
			mode:   ModeNFT,
			native: &fakeNative{present: ours}, answers: nftWorks,
			backend: "iptables-nft", probed: true,
		},
		{
			name:   "IPv6 off: a stale ip6 table of ours goes",
			cfg:    cfg,
			native: &fakeNative{present: both}, answers: map[string]answer{},
			backend: NativeBackend, rebuilt: true, dropped: []family{ipv6},
		},
		{
			name:   "IPv6 on: both tables, nothing dropped",
			cfg:    cfg6,
			native: &fakeNative{present: both}, answers: map[string]answer{},
			backend: NativeBackend, rebuilt: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{answers: tc.answers}
			res, err := Apply(context.Background(), tc.cfg, Options{Mode: tc.mode, Run: f.run, HasNetAdmin: func() bool { return true }, native: tc.native})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.Backend != tc.backend || res.Rebuilt != tc.rebuilt {
				t.Errorf("Apply used %s (rebuilt %v), want %s (rebuilt %v)", res.Backend, res.Rebuilt, tc.backend, tc.rebuilt)
			}
			if probed := len(f.calls) > 0; probed != tc.probed {
				t.Errorf("ran iptables: %v, want %v: %+v", probed, tc.probed, f.calls)
			}
			if tc.backend != NativeBackend {
				if tc.native.installs != 0 {
					t.Errorf("native install ran with backend %s", res.Backend)
				}
				return
			}
			if len(f.restores()) > 0 {
				t.Errorf("ran %+v with the native backend", f.restores())
			}
			if tc.native.installs != 1 {
				t.Fatalf("%d native installs, want 1", tc.native.installs)
			}
			if fmt.Sprint(tc.native.dropped) != fmt.Sprint(tc.dropped) {
				t.Errorf("dropped the tables of families %v, want %v", tc.native.dropped, tc.dropped)
			}
			if got := res.Applied + res.Applied6; got != NativeRules(tc.cfg) {
				t.Errorf("Result.Applied\n%s\nwant\n%s", got, NativeRules(tc.cfg))
			}
		})
	}
}

func TestApplyNativeErrors(t *testing.T) {
	eperm := fmt.Errorf("listing the nftables tables: netlink receive: %w", syscall.EPERM)
	for _, tc := range []struct {
		name       string
		mode       Mode
		netAdmin   bool
		native     *fakeNative
		answers    map[string]answer
		want       []string
		needsAdmin bool
	}{
		{
			name: "refused in auto mode", netAdmin: false,
			native:     &fakeNative{err: eperm},
			answers:    map[string]answer{"iptables-nft-save": {out: emptyNat}},
			want:       []string{"proxy init needs the NET_ADMIN capability in the pod's network namespace: ", "securityContext.capabilities.add", "operation not permitted"},
			needsAdmin: true,
		},
		{
			name: "refused in native mode", mode: ModeNative, netAdmin: false,
			native:     &fakeNative{err: eperm},
			want:       []string{"proxy init needs the NET_ADMIN capability in the pod's network namespace: ", "operation not permitted"},
			needsAdmin: true,
		},
		{
			name: "the batch refused", mode: ModeNative, netAdmin: true,
			native:     &fakeNative{installErr: fmt.Errorf("conn.Receive: %w", os.ErrPermission)},
			want:       []string{"proxy init needs the NET_ADMIN capability", "nothing changed"},
			needsAdmin: true,
		},
		{
			name: "no nf_tables, native forced", mode: ModeNative, netAdmin: true,
			native: noNative(),
			want:   []string{"nftables does not work here", "--iptables-mode=nft or legacy", "protocol not supported"},
		},
		{
			name: "neither nftables nor iptables", netAdmin: true,
			native:  noNative(),
			answers: map[string]answer{},
			want:    []string{"no iptables works here", "iptables-nft-save", "nftables through netlink: nf_tables: protocol not supported"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{answers: tc.answers}
			_, err := Apply(context.Background(), DefaultConfig(), Options{Mode: tc.mode, Run: f.run, HasNetAdmin: func() bool { return tc.netAdmin }, native: tc.native})
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if errors.Is(err, ErrNeedNetAdmin) != tc.needsAdmin {
				t.Errorf("errors.Is(err, ErrNeedNetAdmin) = %v, want %v", !tc.needsAdmin, tc.needsAdmin)
			}
			if len(f.restores()) > 0 {
				t.Errorf("ran %+v, want no restore", f.restores())
			}
		})
	}
}

// The reading of rules back into words shows what it does not know rather than hiding it,
// and writes ports without a protocol match the way nft does.
func TestDescribeRule(t *testing.T) {
	comment := userdata.AppendString(nil, userdata.TypeComment, `someone "else"`)
	for _, tc := range []struct {
		name  string
		fam   family
		exprs []expr.Any
		udata []byte
		want  string
	}{
		{"port without protocol", ipv4, append(dport(Port(80)), &expr.Verdict{Kind: expr.VerdictAccept}), nil, "th dport 80 accept"},
		{"protocol alone", ipv4, append(isTCP(), &expr.Verdict{Kind: expr.VerdictJump, Chain: "x"}), nil, "meta l4proto tcp jump x"},
		{"unknown expressions", ipv4, append([]expr.Any{&expr.Counter{}}, append(isTCP(), &expr.Verdict{Kind: expr.VerdictDrop})...), comment, `[counter] meta l4proto tcp drop comment "someone \"else\""`},
		{"a protocol, then something unknown", ipv4, append(isTCP(), &expr.Counter{}), nil, "meta l4proto tcp [counter]"},
		{"IPv6 address", ipv6, daddr(ipv6, ipv6.loopbackPrefix()), nil, "ip6 daddr ::1"},
		{"IPv4 /0", ipv4, daddr(ipv4, netip.MustParsePrefix("0.0.0.0/0")), nil, "ip daddr 0.0.0.0/0"},
		{"IPv4 /17", ipv4, daddr(ipv4, netip.MustParsePrefix("198.18.128.0/17")), nil, "ip daddr 198.18.128.0/17"},
		{"a mask that is no prefix", ipv4, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{0xff, 0, 0xff, 0}, Xor: make([]byte, 4)},
			&expr.Cmp{Register: 1, Data: []byte{10, 0, 1, 0}},
		}, nil, "[payload] [bitwise] [cmp]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeRule(tc.fam, &nftables.Rule{Exprs: tc.exprs, UserData: tc.udata}); got != tc.want {
				t.Errorf("describeRule = %q, want %q", got, tc.want)
			}
		})
	}
}

// A batch the kernel refuses changes nothing: the delete of the old table and the adds of the
// new one go in together or not at all.
func TestNativeBatchIsAtomic(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t)
	k := netlinkKernel{}
	good := planNative(DefaultConfig(), ipv4)
	changed := DefaultConfig()
	changed.SkipOutboundPorts = []PortRange{Port(9000)}
	bad := planNative(changed, ipv4)
	// A jump to a chain that does not exist, which the kernel refuses at the end of the batch.
	out := bad.chains[1]
	bad.rules[out.Name] = append(bad.rules[out.Name], &nftables.Rule{Table: bad.table, Chain: out,
		Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "nowhere"}}})

	var before, after nativeTable
	err := ns.Do(func() error {
		if err := k.install([]nativeTable{good}, nil); err != nil {
			return fmt.Errorf("the good batch: %w", err)
		}
		var err error
		if before, _, err = k.read(ipv4); err != nil {
			return err
		}
		if err := k.install([]nativeTable{bad}, nil); err == nil {
			return errors.New("the kernel took a jump to a chain that does not exist")
		}
		after, _, err = k.read(ipv4)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.String() != good.String() || after.String() != good.String() {
		t.Fatalf("after a refused batch the kernel holds\n%s\nwant, as before it\n%s", after, good)
	}
}
