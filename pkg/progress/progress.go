package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Printer writes status lines to one writer.
type Printer struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

// New returns a Printer writing to out; a nil out discards everything.
func New(out io.Writer) *Printer {
	if out == nil {
		out = io.Discard
	}
	return &Printer{out: out, now: time.Now}
}

// Step is one step under way.
type Step struct {
	p     *Printer
	name  string
	start time.Time
}

// Start prints that a step began and returns it, to be ended with End.
func (p *Printer) Start(name string) *Step {
	p.printf("• %s ...\n", name)
	return &Step{p: p, name: name, start: p.now()}
}

// End prints ✓ and the time the step took when err is nil, ✗ otherwise, and returns err.
func (s *Step) End(err error) error {
	took := s.p.now().Sub(s.start).Round(100 * time.Millisecond)
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	s.p.printf("%s %s %s\n", mark, s.name, formatDuration(took))
	return err
}

// Run starts a step, runs fn and ends the step with fn's error.
func (p *Printer) Run(name string, fn func() error) error {
	return p.Start(name).End(fn())
}

// Printf prints a line that is not a step, such as a hint.
func (p *Printer) Printf(format string, args ...any) {
	p.printf(format, args...)
}

func (p *Printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.String()
}
