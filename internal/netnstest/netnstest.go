package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// prefix names our namespaces, followed by the test process's PID, so a run that was killed
// before its clean-up can be told from one still running.
const prefix = "mfnstest-"

// Require skips t unless it runs as root with the given binaries (and ip) on PATH.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes network namespaces and iptables rules in them (run go test as root)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s on PATH: run hack/install-deps.sh", tool)
		}
	}
}

// NS is a network namespace the test made, with lo up.
type NS struct {
	Name string
	Path string
}

// New makes a namespace that is deleted when t ends. Call Require first.
func New(t testing.TB) *NS {
	t.Helper()
	sweep(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	ns := &NS{Name: prefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])}
	ns.Path = "/run/netns/" + ns.Name
	if out, err := ip("netns", "add", ns.Name); err != nil {
		t.Fatalf("making network namespace %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		// Deleting the namespace deletes its links too, the veth ends included; sockets still
		// open would keep it alive unseen, which is why tests close theirs in Cleanup as well.
		if out, err := ip("netns", "del", ns.Name); err != nil {
			t.Errorf("deleting network namespace %s: %v: %s", ns.Name, err, out)
		}
	})
	if out, err := ip("-n", ns.Name, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("lo up in %s: %v: %s", ns.Name, err, out)
	}
	return ns
}

// sweep deletes namespaces left by test processes that are gone (killed by a timeout, say,
// before their clean-up could run).
func sweep(t testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		if out, err := ip("netns", "del", e.Name()); err != nil {
			t.Logf("removing %s, left by a test process that is gone: %v: %s", e.Name(), err, out)
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func ip(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ip", args...).CombinedOutput()
}

// Do runs fn on an OS thread inside ns and returns its error. fn must not start goroutines
// that expect to be inside ns: only its own goroutine is.
func (ns *NS) Do(fn func() error) error { return ns.do(-1, fn) }

// DoAs is Do with the thread's filesystem UID set to uid: sockets fn opens belong to uid as
// far as iptables' owner match is concerned (it reads the socket file's fsuid), while the test
// process keeps root everywhere else. Setting the real UID would change every thread of the
// process, because Go applies setuid to all of them.
func (ns *NS) DoAs(uid int, fn func() error) error { return ns.do(uid, fn) }

func (ns *NS) do(fsuid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread's namespace (and maybe fsuid) is changed for good, so
		// it must die with this goroutine rather than go back to the scheduler.
		runtime.LockOSThread()
		if err := ns.enter(); err != nil {
			errc <- err
			return
		}
		if fsuid >= 0 {
			unix.SetfsuidRetUid(fsuid)
			// setfsuid reports failure only by not changing it; -1 asks without setting.
			if got, _ := unix.SetfsuidRetUid(-1); got != fsuid {
				errc <- fmt.Errorf("setting the thread's fsuid to %d: it is %d", fsuid, got)
				return
			}
		}
		errc <- fn()
	}()
	return <-errc
}

// enter moves the calling (locked) thread into ns and checks that it is there: code run next
// may install iptables rules, which must never land in the host's namespace.
func (ns *NS) enter() error {
	f, err := os.Open(ns.Path)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", ns.Name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", ns.Name, err)
	}
	var want, got unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &want); err != nil {
		return err
	}
	if err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &got); err != nil {
		return err
	}
	if want.Ino != got.Ino || want.Dev != got.Dev {
		return fmt.Errorf("thread is not in network namespace %s after setns", ns.Name)
	}
	return nil
}

// Run runs a command inside ns and returns its combined output.
func (ns *NS) Run(ctx context.Context, name string, args ...string) (string, error) {
	var out []byte
	err := ns.Do(func() error {
		var err error
		out, err = exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, out)
		}
		return nil
	})
	return string(out), err
}

// Listen opens a TCP listener inside ns, closed when t ends.
func (ns *NS) Listen(t testing.TB, addr string) *net.TCPListener {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// Dial connects from inside ns, as uid when uid >= 0 (see DoAs).
func (ns *NS) Dial(ctx context.Context, uid int, addr string) (*net.TCPConn, error) {
	var c net.Conn
	err := ns.do(uid, func() (err error) {
		// The socket is made and connected on this thread, so in ns; the waiting for the
		// handshake may happen anywhere.
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// Link joins a and b with a veth pair named veth0 at both ends, made directly inside them (it
// never exists in the host's namespace), with the given addresses, and up.
func Link(t testing.TB, a *NS, aAddr netip.Prefix, b *NS, bAddr netip.Prefix) {
	t.Helper()
	steps := [][]string{
		{"link", "add", "veth0", "netns", a.Name, "type", "veth", "peer", "name", "veth0", "netns", b.Name},
		{"-n", a.Name, "addr", "add", aAddr.String(), "dev", "veth0"},
		{"-n", b.Name, "addr", "add", bAddr.String(), "dev", "veth0"},
		{"-n", a.Name, "link", "set", "veth0", "up"},
		{"-n", b.Name, "link", "set", "veth0", "up"},
	}
	for _, s := range steps {
		if out, err := ip(s...); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
}

// AddAddr adds another address to ns's veth0, as a second host behind the link would have.
func (ns *NS) AddAddr(t testing.TB, addr netip.Prefix) {
	t.Helper()
	if out, err := ip("-n", ns.Name, "addr", "add", addr.String(), "dev", "veth0"); err != nil {
		t.Fatalf("adding %s in %s: %v: %s", addr, ns.Name, err, out)
	}
}
