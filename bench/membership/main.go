// Command membership measures how soon a killed gateway is seen dead: three members of a
// gossip pool (pkg/membership, memberlist over mutual TLS 1.3) on loopback, 127.0.0.1, .2 and
// .3, one of them (north) a process of its own that is killed with SIGKILL, beside the link
// controller's fallback, an HTTP probe of that process at Linkerd's defaults (every 3 s,
// dead after 3 failures in a row), timed against the same kill:
//
//   - per trial, from the kill until both other members report north Dead (the later of the
//     two), and until the HTTP probe declares it; p50, p99 and max over the trials;
//
//   - the killed member's RSS (VmRSS of its process, which also serves the probed /ready) and
//     Go heap in use, just before the kill.
//
// The kill comes at a random point of the probe's period, as a real failure would. The HTTP
// probe runs at its real period, so a trial takes about 9 s.
//
//	go run ./bench/membership [-trials 5]
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshfed/meshfed/internal/benchstat"
	"github.com/meshfed/meshfed/pkg/membership"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Linkerd's gateway probe defaults, the link controller's fallback.
const (
	probePeriod   = 3 * time.Second
	probeFailures = 3
	probeTimeout  = time.Second // a killed process on loopback refuses at once; this never binds
)

var clusters = []string{"east", "west", "north"}

func main() {
	trials := flag.Int("trials", 5, "kills timed, one after the other (each takes ~9 s: the HTTP probe's real period)")
	victim := flag.String("victim", "", "internal: run as the member to be killed, joining the member at this address")
	pki := flag.String("pki", "", "internal: the victim's certificates")
	flag.Parse()
	var err error
	if *victim != "" {
		err = runVictim(*victim, *pki)
	} else {
		err = run(*trials)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/membership:", err)
		os.Exit(1)
	}
}

type trialResult struct {
	gossip, probe time.Duration
	rss, heap     uint64
}

func run(trials int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "bench-membership-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fed, err := newFederation(dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var gossip, probe []time.Duration
	var last trialResult
	for i := range trials {
		r, err := trial(ctx, fed, self, dir)
		if err != nil {
			return fmt.Errorf("trial %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "trial %d: gossip %s, HTTP probe %s\n", i+1, benchstat.Millis(r.gossip), benchstat.Millis(r.probe))
		gossip, probe = append(gossip, r.gossip), append(probe, r.probe)
		last = r
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "kill -9 of 1 member of 3, until seen dead (%d trials)\tgossip: both others report Dead\tHTTP probe: %s period, %d failures\n", trials, probePeriod, probeFailures)
	for _, p := range []int{50, 99} {
		fmt.Fprintf(w, "p%d\t%s\t%s\n", p, benchstat.Millis(benchstat.Percentile(gossip, p)), benchstat.Millis(benchstat.Percentile(probe, p)))
	}
	fmt.Fprintf(w, "max\t%s\t%s\n", benchstat.Millis(benchstat.Percentile(gossip, 100)), benchstat.Millis(benchstat.Percentile(probe, 100)))
	fmt.Fprintf(w, "killed member's process, last trial\tRSS %.1f MiB, Go heap in use %.1f MiB\t(serves the probed /ready too)\n", mib(last.rss), mib(last.heap))
	t := membership.DefaultTiming()
	fmt.Fprintf(w, "timing\tprobe %s / timeout %s, suspicion %d rounds, gossip %s\t\n", t.ProbeInterval, t.ProbeTimeout, t.SuspicionMult, t.GossipInterval)
	return w.Flush()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// trial starts east and west here and north as a process, kills north at a random point of
// the HTTP probe's period, and times both detections.
func trial(ctx context.Context, fed *federation, self, dir string) (trialResult, error) {
	var r trialResult
	east, err := fed.member(ctx, "east", 1)
	if err != nil {
		return r, err
	}
	defer east.Shutdown()
	west, err := fed.member(ctx, "west", 2)
	if err != nil {
		return r, err
	}
	defer west.Shutdown()
	if _, err := west.Join(ctx, []netip.AddrPort{east.Addr()}); err != nil {
		return r, err
	}

	cmd := exec.CommandContext(ctx, self, "-victim", east.Addr().String(), "-pki", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	readLine := func(prefix string) (string, error) {
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix+" "); ok {
				return rest, nil
			}
		}
		return "", fmt.Errorf("north said no %s: %v", prefix, lines.Err())
	}
	readyURL, err := readLine("READY")
	if err != nil {
		return r, err
	}
	if err := waitFor(ctx, 10*time.Second, func() bool {
		for _, m := range []*membership.Member{east, west} {
			if st, ok := m.Status("north"); !ok || st.State != membership.Alive {
				return false
			}
		}
		return true
	}); err != nil {
		return r, fmt.Errorf("north never alive to east and west: %w", err)
	}
	cmd.Process.Signal(syscall.SIGUSR1) // asks for its heap
	heap, err := readLine("HEAP")
	if err != nil {
		return r, err
	}
	r.heap, _ = strconv.ParseUint(heap, 10, 64)
	if r.rss, err = benchstat.RSS(cmd.Process.Pid); err != nil {
		return r, err
	}

	// The fallback probe, started before the kill so its phase is unrelated to it.
	probeDead := make(chan time.Time, 1)
	pctx, cancelProbe := context.WithCancel(ctx)
	defer cancelProbe()
	go httpProbe(pctx, readyURL, probeDead)
	deadAt := make(chan time.Time, 2)
	for _, m := range []*membership.Member{east, west} {
		events, cancel := m.Subscribe()
		defer cancel()
		go func() {
			for e := range events {
				if e.Name == "north" && e.State == membership.Dead {
					deadAt <- time.Now()
					return
				}
			}
		}()
	}
	select {
	case <-time.After(time.Duration(rand.Int64N(int64(probePeriod)))):
	case <-ctx.Done():
		return r, ctx.Err()
	}

	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		return r, err
	}
	timeout := time.After(probePeriod*(probeFailures+2) + 5*time.Second)
	for i := range 2 {
		select {
		case at := <-deadAt:
			if i == 1 {
				r.gossip = at.Sub(killed)
			}
		case <-timeout:
			return r, errors.New("north was not Dead to both others in time")
		}
	}
	select {
	case at := <-probeDead:
		r.probe = at.Sub(killed)
	case <-timeout:
		return r, errors.New("the HTTP probe did not declare north dead in time")
	}
	return r, nil
}

// httpProbe probes url every probePeriod, as the link controller's fallback does, and sends
// the time of the probeFailures-th failure in a row.
func httpProbe(ctx context.Context, url string, dead chan<- time.Time) {
	client := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(probePeriod)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				failures = 0
				continue
			}
		}
		if failures++; failures == probeFailures {
			dead <- time.Now()
			return
		}
	}
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// runVictim is north: a member on 127.0.0.3 joined to east, and an HTTP /ready beside it.
// It prints "READY <url>" once joined, "HEAP <bytes>" on SIGUSR1, and runs until killed.
func runVictim(eastAddr, dir string) error {
	east, err := netip.ParseAddrPort(eastAddr)
	if err != nil {
		return err
	}
	creds, err := loadCredentials(dir, "north")
	if err != nil {
		return err
	}
	m, err := membership.New(context.Background(), membership.Config{
		Cluster:     "north",
		BindAddr:    netip.MustParseAddrPort("127.0.0.3:0"),
		Credentials: creds,
		Allowed:     allowGateways,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	if _, err := m.Join(context.Background(), []netip.AddrPort{east}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	heap := make(chan os.Signal, 1)
	signal.Notify(heap, syscall.SIGUSR1)
	fmt.Printf("READY http://%s/ready\n", ln.Addr())
	for range heap {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("HEAP %d\n", ms.HeapInuse)
	}
	return nil
}

// federation is one anchor and an issuer per cluster, written to a directory so that the
// victim process reads its certificate from there.
type federation struct {
	dir string
}

func gatewayID(cluster string) trust.ID {
	return trust.ID{TrustDomain: trust.DefaultTrustDomain(cluster), Namespace: "mesh-multicluster", ServiceAccount: "meshfed-gateway"}
}

// allowGateways allows the gateways of the three clusters.
func allowGateways(id trust.ID) error {
	for _, c := range clusters {
		if id == gatewayID(c) {
			return nil
		}
	}
	return fmt.Errorf("%s is not a gateway of the federation", id)
}

func newFederation(dir string) (*federation, error) {
	now := time.Now()
	anchor, err := trust.NewAnchor("bench anchor", 24*time.Hour, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "anchor.pem"), anchor.CertPEM(), 0o600); err != nil {
		return nil, err
	}
	for _, c := range clusters {
		iss, err := trust.NewIssuer(anchor, trust.IssuerCommonName(c), 12*time.Hour, now.Add(-time.Hour))
		if err != nil {
			return nil, err
		}
		leaf, key, err := iss.IssueLeaf(gatewayID(c), time.Hour, now.Add(-time.Minute))
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		chain := trust.EncodeCertificates(leaf, iss.Cert)
		if err := os.WriteFile(filepath.Join(dir, c+".pem"), chain, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, c+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
	}
	return &federation{dir: dir}, nil
}

func loadCredentials(dir, cluster string) (membership.Credentials, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, cluster+".pem"), filepath.Join(dir, cluster+".key"))
	if err != nil {
		return membership.Credentials{}, err
	}
	anchors, err := os.ReadFile(filepath.Join(dir, "anchor.pem"))
	if err != nil {
		return membership.Credentials{}, err
	}
	bundle, err := trust.ParseBundle(anchors)
	if err != nil {
		return membership.Credentials{}, err
	}
	return membership.Credentials{
		Certificate: func() (*tls.Certificate, error) { return &cert, nil },
		Bundle:      func() *trust.Bundle { return bundle },
	}, nil
}

// member starts cluster's member here, on 127.0.0.<last>.
func (f *federation) member(ctx context.Context, cluster string, last byte) (*membership.Member, error) {
	creds, err := loadCredentials(f.dir, cluster)
	if err != nil {
		return nil, err
	}
	return membership.New(ctx, membership.Config{
		Cluster:     cluster,
		BindAddr:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, last}), 0),
		Credentials: creds,
		Allowed:     allowGateways,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}
