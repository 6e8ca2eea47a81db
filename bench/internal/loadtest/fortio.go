package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
)

// FortioTool is the load generator and the apps, built from hack/tools/fortio, whose go.mod
// pins the version: v1.68.2, the last release whose dependencies the module proxy serves
// (later ones import grol.io/grol, which it refuses).
var FortioTool = build.Tool{Name: "fortio", Version: "v1.68.2", Packages: []string{"fortio.org/fortio"}}

// BuildFortio builds fortio into the cache, once for each version of its tools module, and
// returns the binary's path.
func BuildFortio(ctx context.Context) (string, error) {
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		return "", err
	}
	dir, err := b.Tool(ctx, FortioTool)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "fortio"), nil
}

// Apps are what every path ends at: fortio's HTTP echo and gRPC ping servers, and the bench's
// own TCP sink.
type Apps struct {
	HTTP, GRPC, TCP string // ip:port
	Server          *Process
}

var fortioListening = regexp.MustCompile(`(grpc 'ping'|http-echo) server listening on tcp ([0-9.]+:[0-9]+)`)

// StartApps starts `fortio server` on loopback ports it picks itself, and reads them back from
// its log.
func StartApps(ctx context.Context, fortio, sink string) (*Apps, error) {
	p, err := StartProcess(ctx, "fortio server", nil, fortio, "server",
		"-http-port", "127.0.0.1:0", "-grpc-port", "127.0.0.1:0",
		"-redirect-port", "disabled", "-tcp-port", "disabled", "-udp-port", "disabled", "-ui-path", "")
	if err != nil {
		return nil, err
	}
	m, err := p.Await(fortioListening, 2, 10*time.Second)
	if err != nil {
		p.Stop()
		return nil, err
	}
	a := &Apps{TCP: sink, Server: p}
	for _, l := range m {
		if l[1] == "http-echo" {
			a.HTTP = l[2]
		} else {
			a.GRPC = l[2]
		}
	}
	if a.HTTP == "" || a.GRPC == "" {
		p.Stop()
		return nil, p.Failure(fmt.Errorf("did not say both its ports"))
	}
	return a, nil
}

// Load is one fortio load run.
type Load struct {
	GRPC     bool
	QPS      int // 0: as fast as it goes
	Conns    int
	Duration time.Duration
}

// Result is what the bench reads of fortio's JSON result.
type Result struct {
	ActualQPS         float64
	DurationHistogram struct {
		Count       int64
		Percentiles []struct{ Percentile, Value float64 }
	}
	RetCodes map[string]int64
}

// Percentiles asked of fortio, in the order latencies() returns them.
var Percentiles = []float64{50, 99, 99.9}

// resolution is the width of fortio's finest histogram buckets, in seconds: 10 µs, so that
// sub-millisecond percentiles are read to the hundredth of a millisecond.
const resolution = "0.00001"

// Run sends l to addr and returns fortio's result; any request that failed fails the run.
func (l Load) Run(ctx context.Context, fortio, addr string) (*Result, error) {
	args := []string{"load", "-quiet", "-json", "-", "-uniform", "-r", resolution,
		"-p", "50,99,99.9", "-qps", strconv.Itoa(l.QPS), "-c", strconv.Itoa(l.Conns), "-t", l.Duration.String()}
	target := "http://" + addr + "/"
	if l.GRPC {
		args = append(args, "-grpc", "-ping")
		target = addr
	}
	cmd := exec.CommandContext(ctx, fortio, append(args, target)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("fortio %s: %w\n%s", strings.Join(args, " "), err, LastLines(stderr.String(), 20))
	}
	var r Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("fortio's JSON result: %w", err)
	}
	ok := r.RetCodes["200"] + r.RetCodes["SERVING"]
	if r.DurationHistogram.Count == 0 || ok != r.DurationHistogram.Count {
		return nil, fmt.Errorf("%d of %d requests failed (%v)\n%s", r.DurationHistogram.Count-ok, r.DurationHistogram.Count, r.RetCodes, LastLines(stderr.String(), 20))
	}
	return &r, nil
}

// Latencies are the percentiles asked for, in order.
func (r *Result) Latencies() ([]time.Duration, error) {
	out := make([]time.Duration, len(Percentiles))
	for i, want := range Percentiles {
		found := false
		for _, p := range r.DurationHistogram.Percentiles {
			if p.Percentile == want {
				out[i], found = time.Duration(p.Value*float64(time.Second)), true
			}
		}
		if !found {
			return nil, fmt.Errorf("fortio's result has no p%g", want)
		}
	}
	return out, nil
}

func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
