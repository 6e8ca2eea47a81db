package iptables

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables"
)

// nativeKernel is what the native backend asks of the kernel's nftables. netlinkKernel is
// the real one; the tests of Apply's choice of backend fake it, so that they never reach the
// kernel of the namespace they run in.
type nativeKernel interface {
	// ours says which families hold a table of ours. An error says nftables cannot be
	// used here (no nf_tables in the kernel, or no NET_ADMIN).
	ours() (map[family]bool, error)
	// install sends one batch that replaces our tables of the given families with these,
	// and deletes our tables of the families in drop.
	install(tables []nativeTable, drop []family) error
	// read reads our table of fam back; ok is false when there is none.
	read(fam family) (t nativeTable, ok bool, err error)
}

// netlinkKernel talks to nf_tables over netlink, in the network namespace of the calling
// thread: every call opens its socket there and closes it before returning.
type netlinkKernel struct{}

func (netlinkKernel) ours() (map[family]bool, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyUnspecified)
	if err != nil {
		return nil, fmt.Errorf("listing the nftables tables: %w", err)
	}
	present := map[family]bool{}
	for _, t := range tables {
		for _, fam := range []family{ipv4, ipv6} {
			if t.Name == NativeTable && t.Family == fam.table().Family {
				present[fam] = true
			}
		}
	}
	return present, nil
}

// install is one netlink batch, which the kernel applies whole or not at all. For each table:
// add it (nothing happens if it is there), delete it with all it holds, add it anew, then its
// chains and rules: the add before the delete is what makes the delete succeed when the table
// is not there, so the batch needs no look first and cannot race one.
func (netlinkKernel) install(tables []nativeTable, drop []family) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	for _, t := range tables {
		c.AddTable(t.table)
		c.DelTable(t.table)
		c.AddTable(t.table)
		for _, ch := range t.chains {
			c.AddChain(ch)
		}
		for _, ch := range t.chains {
			for _, r := range t.rules[ch.Name] {
				c.AddRule(r)
			}
		}
	}
	for _, fam := range drop {
		c.DelTable(fam.table())
	}
	return c.Flush()
}

func (netlinkKernel) read(fam family) (nativeTable, bool, error) {
	c, err := nftables.New()
	if err != nil {
		return nativeTable{}, false, err
	}
	want := fam.table()
	tables, err := c.ListTablesOfFamily(want.Family)
	if err != nil {
		return nativeTable{}, false, fmt.Errorf("listing the nftables tables: %w", err)
	}
	found := false
	for _, t := range tables {
		found = found || t.Name == want.Name
	}
	if !found {
		return nativeTable{}, false, nil
	}
	chains, err := c.ListChainsOfTableFamily(want.Family)
	if err != nil {
		return nativeTable{}, false, fmt.Errorf("listing the chains of table %s %s: %w", fam.nftName(), want.Name, err)
	}
	t := nativeTable{table: want, rules: map[string][]*nftables.Rule{}}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != want.Name {
			continue
		}
		ch.Table = want
		rules, err := c.GetRules(want, ch)
		if err != nil {
			return nativeTable{}, false, fmt.Errorf("listing the rules of chain %s in table %s %s: %w", ch.Name, fam.nftName(), want.Name, err)
		}
		t.chains = append(t.chains, ch)
		t.rules[ch.Name] = rules
	}
	return t, true, nil
}

// ReadNative is our nftables tables in the current network namespace as the kernel holds them,
// read through netlink, in `nft list table` style: what `proxy init` prints after the native
// backend installed them. It is empty when there are none.
func ReadNative() (string, error) {
	var out string
	for _, fam := range []family{ipv4, ipv6} {
		t, ok, err := netlinkKernel{}.read(fam)
		if err != nil {
			return "", explainNative(hasNetAdmin, err)
		}
		if ok {
			out += t.String()
		}
	}
	return out, nil
}

// applyNative installs cfg's tables in one batch, deleting a stale ip6 table of ours when IPv6
// is off, and reads them back for Result.Applied. present is what ours found before.
func applyNative(ctx context.Context, cfg Config, opts Options, present map[family]bool) (Result, error) {
	res := Result{Backend: NativeBackend, Rebuilt: present[ipv4] || present[ipv6]}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	var tables []nativeTable
	for _, fam := range cfg.families() {
		tables = append(tables, planNative(cfg, fam))
	}
	var drop []family
	if !cfg.IPv6 && present[ipv6] {
		// Left alone, it would go on sending the pod's IPv6 to the proxy.
		drop = append(drop, ipv6)
	}
	if err := opts.native.install(tables, drop); err != nil {
		return res, explainNative(opts.HasNetAdmin, fmt.Errorf("installing the nftables tables (one batch, so nothing changed): %w", err))
	}
	for _, fam := range cfg.families() {
		t, ok, err := opts.native.read(fam)
		if err == nil && !ok {
			err = errors.New("it is not there")
		}
		if err != nil {
			return res, fmt.Errorf("the nftables tables went in, but reading table %s %s back failed: %w", fam.nftName(), NativeTable, err)
		}
		if fam == ipv4 {
			res.Applied = t.String()
		} else {
			res.Applied6 = t.String()
		}
	}
	return res, nil
}

// explainNative turns a refusal into ErrNeedNetAdmin. Unlike iptables-legacy, netlink needs no
// NET_RAW.
func explainNative(hasNetAdmin func() bool, err error) error {
	if errors.Is(err, os.ErrPermission) || !hasNetAdmin() {
		return fmt.Errorf("%w: add NET_ADMIN to the init container's securityContext.capabilities.add: %w", ErrNeedNetAdmin, err)
	}
	return err
}
