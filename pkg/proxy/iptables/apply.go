package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode picks the backend. A network namespace can hold rules of several, and the kernel runs
// them all, so what matters is to keep using, on a second run, the one that holds our rules.
type Mode string

const (
	// ModeAuto uses the native backend when our nftables tables are there already; else the
	// iptables that holds our chains (trying iptables-nft, then iptables-legacy, then plain
	// iptables), so a pod whose rules an iptables init step made keeps them; else the native
	// backend when nftables works; else, as before there was a native backend, the first
	// iptables that holds any nat rule, else the first that works. In a pod of our images,
	// which have no iptables binary, that is the native backend.
	ModeAuto Mode = "auto"
	// ModeNative programs the rules through netlink (package github.com/google/nftables),
	// with no binary, as tables of our own: see NativeRules.
	ModeNative Mode = "native"
	ModeNFT    Mode = "nft"
	ModeLegacy Mode = "legacy"
)

// ParseMode reads a Mode as the --iptables-mode flag spells it.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeNative, ModeNFT, ModeLegacy:
		return m, nil
	}
	return "", fmt.Errorf("iptables mode %q: want auto, native, nft or legacy", s)
}

// Runner runs a command with stdin and returns its standard output. On failure the error
// must hold the command's standard error, which Apply reads to tell a missing capability
// from other failures, and wrap exec.ErrNotFound when there is no such binary.
type Runner func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)

// Options are how Apply does its work; the zero value runs the binaries on PATH in auto mode.
type Options struct {
	Mode Mode
	// Run runs the iptables binaries; nil runs them as child processes, which inherit the
	// caller's network namespace.
	Run Runner
	// HasNetAdmin reports whether this process holds CAP_NET_ADMIN; nil asks the kernel.
	// Apply consults it only when iptables fails, because iptables-legacy-restore does not
	// always say that permission was the problem.
	HasNetAdmin func() bool

	// native is the kernel's nftables for the native backend; nil talks netlink.
	native nativeKernel
}

// Result says what Apply did.
type Result struct {
	// Backend is the backend used: "iptables-nft", "iptables-legacy" or "iptables", or
	// NativeBackend.
	Backend string
	// Rebuilt is true when our chains (or tables) were there already and were rebuilt.
	Rebuilt bool
	// Applied is the transaction given to iptables-restore, Applied6 to ip6tables-restore
	// (empty without Config.IPv6). With the native backend they are our ip and ip6 tables as
	// read back from the kernel after the batch, in `nft list table` style.
	Applied, Applied6 string
}

// ErrNeedNetAdmin is in the chain of every error Apply returns because iptables was refused.
var ErrNeedNetAdmin = errors.New("proxy init needs the NET_ADMIN capability in the pod's network namespace")

// backend is one iptables flavour's binaries.
type backend struct {
	name                   string
	save, restore          string
	save6, restore6        string
	waitsForTheXtablesLock bool
}

func candidates(m Mode) ([]backend, error) {
	nft := backend{name: "iptables-nft", save: "iptables-nft-save", restore: "iptables-nft-restore",
		save6: "ip6tables-nft-save", restore6: "ip6tables-nft-restore"}
	legacy := backend{name: "iptables-legacy", save: "iptables-legacy-save", restore: "iptables-legacy-restore",
		save6: "ip6tables-legacy-save", restore6: "ip6tables-legacy-restore", waitsForTheXtablesLock: true}
	// Images that ship only one flavour often install it under the plain names.
	plain := backend{name: "iptables", save: "iptables-save", restore: "iptables-restore",
		save6: "ip6tables-save", restore6: "ip6tables-restore", waitsForTheXtablesLock: true}
	switch m {
	case ModeAuto, "":
		return []backend{nft, legacy, plain}, nil
	case ModeNFT:
		return []backend{nft}, nil
	case ModeLegacy:
		return []backend{legacy}, nil
	}
	return nil, fmt.Errorf("iptables mode %q: want auto, native, nft or legacy", m)
}

// Apply installs cfg's rules in the current network namespace. With iptables: our chains
// rebuilt and the jumps into them added where missing, in one iptables-restore --noflush
// transaction per address family, so a failure leaves the table as it was and other rules are
// kept. With the native backend: our tables replaced in one netlink batch for both families,
// other tables untouched.
func Apply(ctx context.Context, cfg Config, opts Options) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if opts.Run == nil {
		opts.Run = execRunner
	}
	if opts.HasNetAdmin == nil {
		opts.HasNetAdmin = hasNetAdmin
	}
	if opts.native == nil {
		opts.native = netlinkKernel{}
	}
	switch opts.Mode {
	case ModeNative:
		present, err := opts.native.ours()
		if err != nil {
			if !errors.Is(err, os.ErrPermission) && opts.HasNetAdmin() {
				err = fmt.Errorf("nftables does not work here (a kernel without nf_tables? --iptables-mode=nft or legacy uses iptables, if the image has it): %w", err)
			}
			return Result{}, explainNative(opts.HasNetAdmin, err)
		}
		return applyNative(ctx, cfg, opts, present)
	case ModeAuto, "":
		return applyAuto(ctx, cfg, opts)
	}
	be, saved, err := choose(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	return applyIptables(ctx, cfg, opts, be, saved)
}

// applyAuto is ModeAuto's choice.
func applyAuto(ctx context.Context, cfg Config, opts Options) (Result, error) {
	present, nativeErr := opts.native.ours()
	if errors.Is(nativeErr, os.ErrPermission) {
		// iptables would be refused as well, and this is the error to read.
		return Result{}, explainNative(opts.HasNetAdmin, nativeErr)
	}
	if nativeErr == nil && (present[ipv4] || present[ipv6]) {
		return applyNative(ctx, cfg, opts, present)
	}
	cands, err := candidates(ModeAuto)
	if err != nil {
		return Result{}, err
	}
	ok, failures, err := probe(ctx, opts, cands)
	if err != nil {
		return Result{}, err
	}
	for _, w := range ok {
		if hasOurChains(w.saved) {
			return applyIptables(ctx, cfg, opts, w.be, w.saved)
		}
	}
	if nativeErr == nil {
		return applyNative(ctx, cfg, opts, present)
	}
	be, saved, err := pick(opts, ok, append(failures, fmt.Errorf("nftables through netlink: %w", nativeErr)))
	if err != nil {
		return Result{}, err
	}
	return applyIptables(ctx, cfg, opts, be, saved)
}

// applyIptables is Apply with the iptables backend be, whose `-save -t nat` printed saved.
func applyIptables(ctx context.Context, cfg Config, opts Options, be backend, saved string) (Result, error) {
	res := Result{Backend: be.name, Rebuilt: hasOurChains(saved)}
	var err error
	if res.Applied, err = apply(ctx, opts, be, be.restore, cfg, ipv4, saved); err != nil {
		return res, err
	}
	if !cfg.IPv6 {
		return res, nil
	}
	saved6, err := opts.Run(ctx, nil, be.save6, "-t", "nat")
	if err != nil {
		return res, explain(opts, fmt.Errorf("IPv6 rules were asked for, and ip6tables fails (turn IPv6 off where the cluster has none): %w", err))
	}
	res.Applied6, err = apply(ctx, opts, be, be.restore6, cfg, ipv6, string(saved6))
	return res, err
}

func apply(ctx context.Context, opts Options, be backend, restore string, cfg Config, fam family, saved string) (string, error) {
	tx := plan(cfg, fam, saved)
	args := []string{"--noflush"}
	if be.waitsForTheXtablesLock {
		// Legacy iptables takes a host-wide file lock, so another pod's init step on the
		// same node can hold it for a moment. (The = matters: -w's value is optional.)
		args = append(args, "--wait=10")
	}
	if _, err := opts.Run(ctx, []byte(tx), restore, args...); err != nil {
		return tx, explain(opts, err)
	}
	return tx, nil
}

// choose finds the iptables backend to use and returns it with its `-save -t nat` output.
func choose(ctx context.Context, opts Options) (backend, string, error) {
	cands, err := candidates(opts.Mode)
	if err != nil {
		return backend{}, "", err
	}
	ok, failures, err := probe(ctx, opts, cands)
	if err != nil {
		return backend{}, "", err
	}
	return pick(opts, ok, failures)
}

// working is an iptables that works here, with its `-save -t nat` output.
type working struct {
	be    backend
	saved string
}

// probe runs each candidate's save and returns those that worked and how the others failed;
// the error is for a refusal (no NET_ADMIN) or the end of ctx.
func probe(ctx context.Context, opts Options, cands []backend) ([]working, []error, error) {
	var ok []working
	var failures []error
	for _, be := range cands {
		out, err := opts.Run(ctx, nil, be.save, "-t", "nat")
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			if refused(err) {
				// The other flavours would be refused too, and this is the error to read.
				return nil, nil, explain(opts, err)
			}
			failures = append(failures, err)
			continue
		}
		ok = append(ok, working{be, string(out)})
	}
	return ok, failures, nil
}

// pick is the backend among ok that holds our chains, else the first that holds any nat rule,
// else the first.
func pick(opts Options, ok []working, failures []error) (backend, string, error) {
	if len(ok) == 0 {
		if !opts.HasNetAdmin() {
			return backend{}, "", explain(opts, errors.Join(failures...))
		}
		return backend{}, "", fmt.Errorf("no iptables works here: put iptables (nft or legacy) in the init image, or choose the mode that is there with --iptables-mode: %w", errors.Join(failures...))
	}
	for _, w := range ok {
		if hasOurChains(w.saved) {
			return w.be, w.saved, nil
		}
	}
	for _, w := range ok {
		if strings.Contains(w.saved, "\n-A ") {
			return w.be, w.saved, nil
		}
	}
	return ok[0].be, ok[0].saved, nil
}

// plan is the transaction that brings a table saved as saved to cfg's rules: render without
// the jumps that are there already, and with the duplicates of any jump deleted.
func plan(cfg Config, fam family, saved string) string {
	present := map[jump]bool{}
	var deletes []string
	for _, line := range strings.Split(saved, "\n") {
		for _, j := range jumps {
			spec, ok := strings.CutPrefix(strings.TrimSpace(line), "-A "+j.from+" ")
			if !ok || !strings.HasSuffix(" "+spec, " -j "+j.to) {
				continue
			}
			if present[j] {
				deletes = append(deletes, "-D "+j.from+" "+spec)
			}
			present[j] = true
		}
	}
	tx := render(cfg, fam, present)
	if len(deletes) == 0 {
		return tx
	}
	return strings.TrimSuffix(tx, "COMMIT\n") + strings.Join(deletes, "\n") + "\nCOMMIT\n"
}

func hasOurChains(saved string) bool {
	for _, line := range strings.Split(saved, "\n") {
		for _, c := range chains {
			if strings.HasPrefix(line, ":"+c+" ") {
				return true
			}
		}
	}
	return false
}

// refused reports whether iptables said it lacks the privilege to work.
func refused(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"permission denied", "you must be root", "operation not permitted"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// explain turns a refusal into ErrNeedNetAdmin, keeping iptables' own words.
func explain(opts Options, err error) error {
	if refused(err) || !opts.HasNetAdmin() {
		return fmt.Errorf("%w: add NET_ADMIN (and NET_RAW, which iptables-legacy needs too) to the init container's securityContext.capabilities.add: %w", ErrNeedNetAdmin, err)
	}
	return err
}

func hasNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		// Cannot tell: let iptables' own message speak.
		return true
	}
	return data[0].Effective&(1<<unix.CAP_NET_ADMIN) != 0
}

// commandError keeps what a failed command wrote, which is the part of the error people need.
type commandError struct {
	command string
	output  string
	err     error
}

func (e *commandError) Error() string {
	if e.output == "" {
		return fmt.Sprintf("%s: %v", e.command, e.err)
	}
	return fmt.Sprintf("%s: %v: %s", e.command, e.err, e.output)
}

func (e *commandError) Unwrap() error { return e.err }

func execRunner(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &commandError{
			command: strings.Join(append([]string{name}, args...), " "),
			output:  strings.TrimSpace(stderr.String()),
			err:     err,
		}
	}
	return stdout.Bytes(), nil
}
