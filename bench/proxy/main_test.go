package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/meshfed/bench/internal/loadtest"
)

func measuresOf(lat time.Duration, rate, bulk float64, rss uint64) *measures {
	m := newMeasures()
	for i := range protocols {
		m.latency[i] = []time.Duration{lat, 2 * lat, 3 * lat}
		m.maxRate[i] = rate
		m.cost[i] = costPer(loadtest.Usage{CPU: time.Duration(rate) * 10 * time.Millisecond, Reads: uint64(rate) * 400, Writes: uint64(rate) * 300}, int64(rate)*100)
	}
	m.bulk = bulk
	m.idle = []loadtest.Memory{{RSS: rss, Anon: rss / 4}, {RSS: rss, Anon: rss / 4}}
	m.loaded = m.idle
	return m
}

func TestTableGoals(t *testing.T) {
	o := options{duration: time.Second, qps: 1000, conns: 8}
	direct := measuresOf(100*time.Microsecond, 50000, 2000, 0)
	for _, tt := range []struct {
		name      string
		mesh, ha  *measures
		wantGoals string
	}{
		{"all met", measuresOf(250*time.Microsecond, 9000, 600, 10<<20), measuresOf(300*time.Microsecond, 8000, 500, 15<<20),
			"added p50 < 0.200 ms ✓; added p99 < 1.0 ms ✓; max req/s >= the haproxy pair's ✓; RSS < 20 MiB idle ✓"},
		{"none met", measuresOf(time.Millisecond, 3000, 500, 28<<20), measuresOf(300*time.Microsecond, 8000, 500, 15<<20),
			"added p50 < 0.200 ms ✗ (HTTP/1.1, gRPC); added p99 < 1.0 ms ✗ (HTTP/1.1, gRPC); max req/s >= the haproxy pair's ✗ (HTTP/1.1, gRPC); RSS < 20 MiB idle ✗ (client-side, server-side)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printTable(&out, o, direct, tt.mesh, tt.ha); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if want := 1 + 2*(len(loadtest.Percentiles)+3) + 1 + 4 + 1; len(lines) != want {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), want, out.String())
			}
			if last := lines[len(lines)-1]; !strings.HasSuffix(last, ": "+tt.wantGoals) {
				t.Errorf("goals line:\n%s\nwant it to end with:\n%s", last, tt.wantGoals)
			}
		})
	}
}

func TestTableCells(t *testing.T) {
	var out bytes.Buffer
	o := options{duration: time.Second, qps: 1000, conns: 8}
	if err := printTable(&out, o, measuresOf(100*time.Microsecond, 50000, 2000, 0),
		measuresOf(250*time.Microsecond, 4000, 600, 28<<20), measuresOf(200*time.Microsecond, 8000, 500, 14<<20)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"HTTP/1.1 p50 at 1000 req/s", "0.100 ms", "0.250 ms", "+0.150 ms", "+0.100 ms", "1.25x",
		"gRPC max req/s", "4000/s", "8%", "0.50x",
		"gRPC CPU per request at max, both proxies", "100.0 µs",
		"gRPC read+write syscalls per request at max, both proxies", "4.0 + 3.0",
		"bulk TCP", "600 MiB/s", "1.20x",
		"RSS idle, client-side proxy", "28.0 MiB (7.0 anon)", "2.00x",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestHAProxyConfigs(t *testing.T) {
	c := haproxyConfig{HTTP: "127.0.0.1:1", GRPC: "127.0.0.1:2", TCP: "127.0.0.1:3", Cert: "/x/side.pem", Anchor: "/x/anchor.pem"}
	for name, want := range map[string][]string{
		"client": {"bind fd@4 proto h2", "server server 127.0.0.1:1 ssl alpn h2 crt /x/side.pem ca-file /x/anchor.pem verify required", "ssl-min-ver TLSv1.3"},
		"server": {"bind fd@3 ssl alpn h2 crt /x/side.pem ca-file /x/anchor.pem verify required", "server app 127.0.0.1:2 proto h2", "server app 127.0.0.1:3"},
	} {
		tmpl := haproxyClient
		if name == "server" {
			tmpl = haproxyServer
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, c); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("the %s side's configuration lacks %q:\n%s", name, w, buf.String())
			}
		}
	}
}
