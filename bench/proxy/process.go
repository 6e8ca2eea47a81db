package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxLines is how much of a child's output is kept, for the errors that quote it.
const maxLines = 200

// process is a child the bench started: an app, a proxy or the load generator's server. Its
// stdout and stderr are read line by line, kept for errors and searched for what it prints
// once ready (the ports it listens on).
type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the child has exited and been reaped

	mu    sync.Mutex
	lines []string      // the last maxLines
	more  chan struct{} // poked on each new line
}

// startProcess runs bin as a child that dies with the bench, whatever ends it: SIGKILL when
// the bench's thread goes (Pdeathsig), a kill when ctx ends, stop on the normal way out.
// files are handed to the child as fds 3, 4, ... and closed in the bench once it has them.
func startProcess(ctx context.Context, name string, files []*os.File, bin string, args ...string) (*process, error) {
	defer closeAll(files)
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
	p := &process{name: name, cmd: cmd, exited: make(chan struct{}), more: make(chan struct{}, 1)}
	go p.read(r)
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (p *process) read(r *os.File) {
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

// await waits until n lines of the child's output have matched re, and returns their
// submatches in order; it fails when the child exits first or timeout passes.
func (p *process) await(re *regexp.Regexp, n int, timeout time.Duration) ([][]string, error) {
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
			return nil, p.failure(fmt.Errorf("exited (%v) before it was ready", p.cmd.ProcessState))
		case <-deadline.C:
			return nil, p.failure(fmt.Errorf("not ready after %s", timeout))
		}
	}
}

func (p *process) matches(re *regexp.Regexp) [][]string {
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

// failure adds the child's name and the end of its output to err.
func (p *process) failure(err error) error {
	return fmt.Errorf("%s: %w\n%s", p.name, err, p.tail(20))
}

// tail is the last n lines the child printed, indented.
func (p *process) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.lines[max(0, len(p.lines)-n):]
	if len(lines) == 0 {
		return "  (it printed nothing)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

// alive fails if the child has exited.
func (p *process) alive() error {
	select {
	case <-p.exited:
		return p.failure(fmt.Errorf("exited (%v)", p.cmd.ProcessState))
	default:
		return nil
	}
}

// stop asks the child to end (SIGTERM), kills it after a grace period, and reaps it.
func (p *process) stop() {
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

// memory is a child's resident set (VmRSS), and of it the anonymous part (RssAnon): the
// rest is mostly the pages of its binary and libraries.
type memory struct{ rss, anon uint64 }

// max is the higher of each part.
func (m memory) max(o memory) memory {
	return memory{rss: max(m.rss, o.rss), anon: max(m.anon, o.anon)}
}

func (p *process) memory() (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}, fmt.Errorf("%s: reading its RSS: %w", p.name, err)
	}
	var m memory
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "VmRSS:" && f[0] != "RssAnon:") {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("%s: %s %q: %w", p.name, f[0], f[1], err)
		}
		if f[0] == "VmRSS:" {
			m.rss = kb << 10
		} else {
			m.anon = kb << 10
		}
		found++
	}
	if found != 2 {
		return memory{}, fmt.Errorf("%s: no VmRSS or RssAnon in /proc/%d/status", p.name, p.cmd.Process.Pid)
	}
	return m, nil
}

// memoryPeak samples the memory of procs every interval until stop is closed, and returns
// each one's highest RSS and highest anonymous part.
func memoryPeak(procs []*process, interval time.Duration, stop <-chan struct{}) ([]memory, error) {
	peak := make([]memory, len(procs))
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for i, p := range procs {
			m, err := p.memory()
			if err != nil {
				return nil, err
			}
			peak[i] = peak[i].max(m)
		}
		select {
		case <-stop:
			return peak, nil
		case <-t.C:
		}
	}
}
