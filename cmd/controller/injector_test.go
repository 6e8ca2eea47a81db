package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
)

func TestInjectorFlags(t *testing.T) {
	base := []string{"--trust-domain=west.meshfed.local", "--proxy-image=ghcr.io/meshfed/proxy:v0.1.0"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no trust domain", []string{"--proxy-image=ghcr.io/meshfed/proxy:dev"}, "--trust-domain is required"},
		{"no image", []string{"--trust-domain=west.meshfed.local"}, "--proxy-image is required"},
		{"bad image", []string{"--trust-domain=west.meshfed.local", "--proxy-image=Proxy Image"}, `--proxy-image "Proxy Image"`},
		{"bad trust domain", []string{"--trust-domain=West", "--proxy-image=ghcr.io/meshfed/proxy:dev"}, "the flags: trust domain:"},
		{"bad log level", append(base, "--proxy-log-level=trace"), `log level "trace": use one of debug, info, warn, error`},
		{"bad quantity", append(base, "--proxy-memory-limit=lots"), `--proxy-memory-limit "lots" is not a quantity`},
		{"request over limit", append(base, "--proxy-memory-request=1Gi"), "memory request 1Gi exceeds its limit 256Mi"},
		{"argument", append(base, "extra"), `injector takes no arguments, got "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseInjectorFlags(tt.args)
			if err == nil {
				_, err = f.config()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one holding %q", err, tt.want)
			}
		})
	}

	f, err := parseInjectorFlags(append(base, "--proxy-cpu-request=50m"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	cpu := cfg.ProxyResources.Requests[corev1.ResourceCPU]
	if cfg.Version != "v0.1.0" || cpu.String() != "50m" || cfg.LogLevel != "info" {
		t.Errorf("version %q (want the image's tag), cpu %s, log level %q", cfg.Version, cpu.String(), cfg.LogLevel)
	}
	for value, want := range map[string]string{"true": "", "false": "", "maybe": `--native-sidecars "maybe": use auto, true or false`} {
		f.nativeSidecars = value
		_, err := f.native(nil)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("--native-sidecars=%s: %v", value, err)
		}
	}
}

func TestInjectorAdmin(t *testing.T) {
	notReady := errors.New("no trust bundle yet")
	var state error = notReady
	srv := httptest.NewServer(injectorAdminMux(prometheus.NewRegistry(), func() error { return state }))
	defer srv.Close()
	get := func(path string) int {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if get("/ready") != http.StatusServiceUnavailable || get("/live") != http.StatusOK || get("/metrics") != http.StatusOK {
		t.Error("before ready: want /ready 503, /live and /metrics 200")
	}
	state = nil
	if get("/ready") != http.StatusOK {
		t.Error("ready: want /ready 200")
	}
}
