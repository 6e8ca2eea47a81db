package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/internal/benchstat"
)

// maxLines is how much of a child's output is kept, for the errors that quote it.
const maxLines = 200

// Process is a child the bench started: an app, a proxy or the load generator's server. Its
// stdout and stderr are read line by line, kept for errors and searched for what it prints
// once ready (the ports it listens on).
type Process struct {
	Name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the child has exited and been reaped

	mu    sync.Mutex
	lines []string      // the last maxLines
	more  chan struct{} // poked on each new line
}

// StartProcess runs bin as a child that dies with the bench, whatever ends it: SIGKILL when
// the bench's thread goes (Pdeathsig), a kill when ctx ends, stop on the normal way out.
// files are handed to the child as fds 3, 4, ... and closed in the bench once it has them.
func StartProcess(ctx context.Context, name string, files []*os.File, bin string, args ...string) (*Process, error) {
	defer CloseAll(files)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer w.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &Process{Name: name, cmd: cmd, exited: make(chan struct{}), more: make(chan struct{}, 1)}
	go p.read(r)
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// CloseAll closes files, the ones handed to a child.
func CloseAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (p *Process) read(r *os.File) {
	defer r.Close()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, s.Text())
		if len(p.lines) > maxLines {
			p.lines = p.lines[1:]
		}
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
}

// Await waits until n lines of the child's output have matched re, and returns their
// submatches in order; it fails when the child exits first or timeout passes.
func (p *Process) Await(re *regexp.Regexp, n int, timeout time.Duration) ([][]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := p.matches(re); len(m) >= n {
			return m[:n], nil
		}
		select {
		case <-p.more:
		case <-p.exited:
			if m := p.matches(re); len(m) >= n {
				return m[:n], nil
			}
			return nil, p.Failure(fmt.Errorf("exited (%v) before it was ready", p.cmd.ProcessState))
		case <-deadline.C:
			return nil, p.Failure(fmt.Errorf("not ready after %s", timeout))
		}
	}
}

func (p *Process) matches(re *regexp.Regexp) [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]string
	for _, l := range p.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// Failure adds the child's name and the end of its output to err.
func (p *Process) Failure(err error) error {
	return fmt.Errorf("%s: %w\n%s", p.Name, err, p.Tail(20))
}

// Tail is the last n lines the child printed, indented.
func (p *Process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.lines[max(0, len(p.lines)-n):]
	if len(lines) == 0 {
		return "  (it printed nothing)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Alive fails if the child has exited.
func (p *Process) Alive() error {
	select {
	case <-p.exited:
		return p.Failure(fmt.Errorf("exited (%v)", p.cmd.ProcessState))
	default:
		return nil
	}
}

// Stop asks the child to end (SIGTERM), kills it after a grace period, and reaps it.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// Kill ends the child at once with SIGKILL, as a crash would, and reaps it.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	<-p.exited
	return nil
}

// Memory is a child's resident set (VmRSS), and of it the anonymous part (RssAnon): the
// rest is mostly the pages of its binary and libraries.
type Memory struct{ RSS, Anon uint64 }

// Max is the higher of each part.
func (m Memory) Max(o Memory) Memory {
	return Memory{RSS: max(m.RSS, o.RSS), Anon: max(m.Anon, o.Anon)}
}

func (p *Process) Memory() (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return Memory{}, fmt.Errorf("%s: reading its RSS: %w", p.Name, err)
	}
	var m Memory
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "VmRSS:" && f[0] != "RssAnon:") {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %s %q: %w", p.Name, f[0], f[1], err)
		}
		if f[0] == "VmRSS:" {
			m.RSS = kb << 10
		} else {
			m.Anon = kb << 10
		}
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("%s: no VmRSS or RssAnon in /proc/%d/status", p.Name, p.cmd.Process.Pid)
	}
	return m, nil
}

// MemoryPeak samples the Memory of procs every interval until stop is closed, and returns
// each one's highest RSS and highest anonymous part.
func MemoryPeak(procs []*Process, interval time.Duration, stop <-chan struct{}) ([]Memory, error) {
	peak := make([]Memory, len(procs))
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for i, p := range procs {
			m, err := p.Memory()
			if err != nil {
				return nil, err
			}
			peak[i] = peak[i].Max(m)
		}
		select {
		case <-stop:
			return peak, nil
		case <-t.C:
		}
	}
}

// Usage is what a child has cost so far: CPU time, user and system, of all its threads; and
// the read and write syscalls it made. Per request, it says what a proxy costs whatever else
// the machine is doing, where requests per second depend on the cores it gets.
type Usage struct {
	CPU           time.Duration
	Reads, Writes uint64
}

// Sub is what u cost since o.
func (u Usage) Sub(o Usage) Usage {
	return Usage{CPU: u.CPU - o.CPU, Reads: u.Reads - o.Reads, Writes: u.Writes - o.Writes}
}

// Add is u and o together.
func (u Usage) Add(o Usage) Usage {
	return Usage{CPU: u.CPU + o.CPU, Reads: u.Reads + o.Reads, Writes: u.Writes + o.Writes}
}

func (p *Process) Usage() (Usage, error) {
	pid := p.cmd.Process.Pid
	cpu, err := benchstat.CPU(pid)
	if err != nil {
		return Usage{}, fmt.Errorf("%s: reading its CPU time: %w", p.Name, err)
	}
	u := Usage{CPU: cpu}
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("%s: reading its syscalls: %w", p.Name, err)
	}
	found := 0
	for _, line := range strings.Split(string(io), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || (f[0] != "syscr:" && f[0] != "syscw:") {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return Usage{}, fmt.Errorf("%s: /proc/%d/io %s %q: %w", p.Name, pid, f[0], f[1], err)
		}
		if f[0] == "syscr:" {
			u.Reads = n
		} else {
			u.Writes = n
		}
		found++
	}
	if found != 2 {
		return Usage{}, fmt.Errorf("%s: no syscr or syscw in /proc/%d/io", p.Name, pid)
	}
	return u, nil
}

// UsageOf is the Usage of procs together.
func UsageOf(procs []*Process) (Usage, error) {
	var sum Usage
	for _, p := range procs {
		u, err := p.Usage()
		if err != nil {
			return Usage{}, err
		}
		sum = sum.Add(u)
	}
	return sum, nil
}
