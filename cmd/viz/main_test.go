package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no Prometheus to read"},
		{[]string{"--prometheus", "west"}, "want CLUSTER=URL"},
		{[]string{"--prometheus", "West=http://p:9090"}, "not a DNS label"},
		{[]string{"--prometheus", "west=p:9090"}, "not an http(s) URL"},
		{[]string{"--prometheus", "west=http://a:9090", "--prometheus", "west=http://b:9090"}, "given twice"},
		{[]string{"--prometheus", "west=http://a:9090", "--trust-domain", "west"}, "want CLUSTER=TRUST-DOMAIN"},
		{[]string{"--prometheus", "west=http://a:9090", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), append(tt.args, "--listen", "127.0.0.1:0"), io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The binary serves the API, answers health, and a cluster whose Prometheus is down is
// named in the answer rather than failing it.
func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--prometheus", "west=http://127.0.0.1:1", "--query-timeout", "2s"}, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("exited before serving: %v; logs %s", err, logs.String())
	}
	resp, err := http.Get("http://" + addr + "/api/v1/stat")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"west","error":"prometheus of west:`) {
		t.Errorf("GET /api/v1/stat: %s %s", resp.Status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
