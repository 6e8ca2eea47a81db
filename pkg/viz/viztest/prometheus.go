package viztest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshfed/meshfed/pkg/viz"
)

// Binary is the Prometheus binary: $MESHFED_PROMETHEUS, else `prometheus` on the PATH.
func Binary() (string, error) {
	if p := os.Getenv("MESHFED_PROMETHEUS"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", errors.New("no prometheus binary: run hack/install-deps.sh (Debian's prometheus package), or set MESHFED_PROMETHEUS")
	}
	return p, nil
}

// Target is one scrape target: a host:port serving /metrics, and the labels Prometheus adds
// to its series (as mesh viz install's relabelling adds namespace and pod).
type Target struct {
	Addr   string
	Labels map[string]string
}

// Prometheus is a running Prometheus.
type Prometheus struct {
	URL string
	API promv1.API
}

// StartPrometheus runs Prometheus scraping targets every interval, with viz.RecordingRules
// evaluated as often, until the test ends, and waits until it is ready. It skips the test when there is no prometheus binary, unless
// MESHFED_REQUIRE_PROMETHEUS is set (CI sets it: there, a missing binary is a failure).
func StartPrometheus(t testing.TB, interval time.Duration, targets []Target) *Prometheus {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("MESHFED_REQUIRE_PROMETHEUS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	var cfg strings.Builder
	iv := model.Duration(interval).String()
	// The rules mesh viz install loads, evaluated as often as targets are scraped.
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(viz.RecordingRules(interval)), 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\nrule_files: [%q]\nscrape_configs:\n- job_name: proxies\n  static_configs:\n",
		iv, iv, iv, filepath.Join(dir, "rules.yml"))
	for _, tg := range targets {
		fmt.Fprintf(&cfg, "  - targets: [%q]\n    labels:\n", tg.Addr)
		for k, v := range tg.Labels {
			fmt.Fprintf(&cfg, "      %s: %q\n", k, v)
		}
		if len(tg.Labels) == 0 {
			cfg.WriteString("      {}\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// The kernel kills it if the test binary dies before its clean-up runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		log.Close()
	})
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitReady(ctx, url, exited); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		t.Fatalf("prometheus at %s: %v; its log:\n%s", url, err, out)
	}
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return &Prometheus{URL: url, API: promv1.NewAPI(c)}
}

// waitReady polls /-/ready until it answers 200, the process exits or ctx ends.
func waitReady(ctx context.Context, url string, exited <-chan error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/-/ready answered %s", resp.Status)
		}
		last = err
		select {
		case err := <-exited:
			return fmt.Errorf("exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %v", last)
		case <-tick.C:
		}
	}
}

// WaitFor evaluates query until cond holds for its answer, or fails the test when ctx ends,
// saying what was awaited.
func (p *Prometheus) WaitFor(ctx context.Context, t testing.TB, what, query string, cond func(model.Vector) bool) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		v, _, err := p.API.Query(ctx, query, time.Now())
		if err == nil {
			if vec, ok := v.(model.Vector); ok && cond(vec) {
				return
			}
			last = v.String()
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s (%s at %s): %v; last answer: %s", what, query, p.URL, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// freeLoopbackAddr picks a free port on 127.0.0.1 for a process that takes its address as a
// flag. Another process could take it in between; on a test machine that is rare, and the
// start fails loudly if it happens.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
