package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// nodeArg marks a process as a node's init: the provider starts its own executable again
// with this argument, in new namespaces. The marker is also how a later Down finds nodes.
const nodeArg = "__meshfed-node"

// MaybeRunNode runs this process as a node's init, and exits, when the provider started it as
// one. Every program that starts clusters with this package (its CLI, a test's TestMain, a
// bench) calls it first thing in main.
func MaybeRunNode() {
	if len(os.Args) < 4 || os.Args[1] != nodeArg {
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", os.Args[2])
	if err := runNode(log, os.Args[3]); err != nil {
		log.Error("node stopped", "err", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// goFD is the pipe on which the provider says the node's network is plugged in.
const goFD = 3

// runNode is the node's PID 1: it sets up the inside of the node, starts its components in
// order and restarts any that exits, until it is killed. Its death takes every process of the
// node with it (the kernel kills a PID namespace with its init) and with them the node's mounts.
func runNode(log *slog.Logger, specPath string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec nodeSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("reading %s: %w", specPath, err)
	}
	if err := awaitGo(os.NewFile(goFD, "go"), time.Minute); err != nil {
		return err
	}
	if err := setupMounts(layout{spec.Dir}); err != nil {
		return fmt.Errorf("mounts: %w", err)
	}
	if err := unix.Sethostname([]byte(spec.Name)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	if err := setupNetwork(log, spec); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	s := &supervisor{log: log, spec: spec, byPID: map[int]*component{}}
	return s.run()
}

func awaitGo(pipe *os.File, timeout time.Duration) error {
	defer pipe.Close()
	pipe.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := io.ReadFull(pipe, b[:]); err != nil {
		return fmt.Errorf("waiting for the provider to plug in the network: %w", err)
	}
	return nil
}

// setupMounts gives the node a mount namespace of its own that shares nothing back with the
// host, a /proc of its PID namespace, a private /run: containerd pins each pod's network
// namespace under /run/netns, and those pins must go with the node; and a /var/log of its
// own in the node's folder: every kubelet removes the folders under /var/log/pods of pods it
// does not know, so on a shared /var/log one cluster's kubelet deleted another's pod logs
// (kubectl logs then failed), and the logs outlived the run.
func setupMounts(l layout) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
		return fmt.Errorf("mounting /run: %w", err)
	}
	varLog := l.path("var-log")
	if err := os.MkdirAll(varLog, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(varLog, "/var/log", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mounting %s on /var/log: %w", varLog, err)
	}
	return nil
}

func setupNetwork(log *slog.Logger, spec nodeSpec) error {
	cmds := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", spec.NodeIP, "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
		// Without a default route the node's own processes (apiserver calling a webhook,
		// hostNetwork pods) would get "network unreachable" for a ClusterIP: the route lookup
		// happens before kube-proxy's DNAT.
		{"ip", "route", "add", spec.ServiceCIDR, "dev", "eth0"},
	}
	if spec.ClusterSetIPRange != "" {
		cmds = append(cmds, []string{"ip", "route", "add", spec.ClusterSetIPRange, "dev", "eth0"})
	}
	for _, r := range spec.Routes {
		cmds = append(cmds, []string{"ip", "route", "add", r.Dst, "via", r.Via})
	}
	cmds = append(cmds, []string{"iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", spec.PodCIDR, "!", "-d", spec.KeepSource,
		"-m", "comment", "--comment", "meshfed: pods leave the node as the node", "-j", "MASQUERADE"})
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	for key, value := range map[string]string{
		"net/ipv4/ip_forward":                "1",
		"net/ipv4/conf/all/route_localnet":   "1",
		"net/bridge/bridge-nf-call-iptables": "1",
	} {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			// bridge-nf-call-iptables exists only with br_netfilter; without it hairpin
			// traffic to a Service misses kube-proxy, which is worth a line, not a failure.
			log.Warn("sysctl not set", "key", key, "err", err)
		}
	}
	return nil
}

// supervisor runs the components as PID 1 of the node: it reaps every process re-parented to
// it (containerd's shims among them) and restarts a component that exits.
type supervisor struct {
	log   *slog.Logger
	spec  nodeSpec
	byPID map[int]*component
}

func (s *supervisor) run() error {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	restarts := make(chan *component, len(s.spec.Components))
	for i := range s.spec.Components {
		c := &s.spec.Components[i]
		if err := s.start(c); err != nil {
			return err
		}
		if c.Ready != "" {
			if err := s.awaitReady(c, sigs, restarts); err != nil {
				return err
			}
		}
	}
	s.log.Info("all components started")
	for {
		select {
		case sig := <-sigs:
			if sig != unix.SIGCHLD {
				return s.stop()
			}
			s.reap(restarts)
		case c := <-restarts:
			if err := s.start(c); err != nil {
				s.log.Error("restart failed", "component", c.Name, "err", err)
			}
		}
	}
}

func (s *supervisor) start(c *component) error {
	logFile, err := os.OpenFile(layout{s.spec.Dir}.log(c.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(c.Path, c.Args...)
	// GOGC=50: every component is a Go program, and a node idles far more than it works; a
	// heap allowed half its live size to grow, not all of it, takes some 80 MiB off a node
	// for a fraction of a core at start.
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "GOGC=50"}, c.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.Name, err)
	}
	s.byPID[cmd.Process.Pid] = c
	s.log.Info("started", "component", c.Name, "pid", cmd.Process.Pid)
	return nil
}

// reap collects every exited child. A component that exited is started again a second later,
// as a kubelet restarts a static pod, so a crash (or a test killing the apiserver) heals.
func (s *supervisor) reap(restarts chan<- *component) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		c, ok := s.byPID[pid]
		if !ok {
			continue
		}
		delete(s.byPID, pid)
		s.log.Warn("component exited, restarting in 1s unless held", "component", c.Name, "status", ws.ExitStatus(), "signal", ws.Signal())
		s.restartLater(c, restarts)
	}
}

// restartLater restarts c in a second, or once its hold file is gone: the provider holds a
// component down (StopComponent) to show what a cluster does without it.
func (s *supervisor) restartLater(c *component, restarts chan<- *component) {
	time.AfterFunc(time.Second, func() {
		if _, err := os.Stat(layout{s.spec.Dir}.hold(c.Name)); err == nil {
			s.restartLater(c, restarts)
			return
		}
		restarts <- c
	})
}

func (s *supervisor) awaitReady(c *component, sigs <-chan os.Signal, restarts chan<- *component) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", c.Ready, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-sigs:
			s.reap(restarts)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not accept connections on %s within 30s: see %s", c.Name, c.Ready, layout{s.spec.Dir}.log(c.Name))
}

// stop ends the node gently on SIGTERM; Down does not wait for this and kills the init.
func (s *supervisor) stop() error {
	for pid := range s.byPID {
		unix.Kill(pid, unix.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.byPID) > 0 && time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.ECHILD) {
			break
		}
		if pid > 0 {
			delete(s.byPID, pid)
			continue
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
