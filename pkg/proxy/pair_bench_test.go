package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// BenchmarkRequestThroughThePair is one request after another from a client app to a server
// app on loopback: straight to the app, the baseline, and through a client proxy's outbound
// and a server proxy's inbound with mTLS between them. Everything runs in this one process,
// so it shows what a change costs per request (CPU, time and allocations) with less noise
// than bench/proxy, not what a deployment sees.
func BenchmarkRequestThroughThePair(b *testing.B) {
	pki := newTestPKI(b)
	for _, proto := range []struct {
		name string
		h2c  bool
	}{{"HTTP1", false}, {"HTTP2", true}} {
		app := httpApp(b, proto.h2c)
		port := addrOf(app).Port()
		p := newPair(b, pki, port, serverID, pki.manager(b, serverID))
		for _, path := range []struct {
			name   string
			dialTo string
		}{{"direct", app.Addr().String()}, {"pair", p.outbound.Addr().String()}} {
			b.Run(proto.name+"/"+path.name, func(b *testing.B) {
				client := dialTo(path.dialTo, proto.h2c)
				defer client.CloseIdleConnections()
				url := fmt.Sprintf("http://198.18.200.1:%d/", port)
				b.ReportAllocs()
				cpu0 := processCPU(b)
				for b.Loop() {
					resp, err := client.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
				// CPU time, unlike ns/op, leaves out the waits for a machine shared with others.
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// dialTo is an HTTP client whose every connection goes to addr.
func dialTo(addr string, h2c bool) *http.Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if h2c {
		return &http.Client{Transport: &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) {
			return dial(ctx, n, a)
		}}, Timeout: 5 * time.Second}
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 5 * time.Second}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
