package local

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestPreflight(t *testing.T) {
	everything := func(string) (string, error) { return "/usr/bin/x", nil }
	present := func(string) (os.FileInfo, error) { return nil, nil }
	without := func(names ...string) func(string) (os.FileInfo, error) {
		return func(path string) (os.FileInfo, error) {
			for _, n := range names {
				if strings.HasSuffix(path, "/"+n) {
					return nil, fs.ErrNotExist
				}
			}
			return nil, nil
		}
	}
	noCommand := func(names ...string) func(string) (string, error) {
		return func(name string) (string, error) {
			for _, n := range names {
				if name == n {
					return "", errors.New("not found")
				}
			}
			return "/usr/bin/" + name, nil
		}
	}
	tests := []struct {
		name    string
		host    hostView
		wantErr string
	}{
		{"all there", hostView{0, everything, present}, ""},
		{"not root", hostView{1000, everything, present}, "need root"},
		{"no etcd", hostView{0, noCommand("etcd"), without("etcd")},
			"missing etcd: run hack/install-deps.sh (it installs etcd-server)"},
		{"runc only in /usr/sbin", hostView{0, noCommand("runc"), present}, ""},
		{"no containerd", hostView{0, noCommand("containerd", "ctr", "containerd-shim-runc-v2"), without("containerd", "ctr", "containerd-shim-runc-v2")},
			"missing containerd, containerd-shim-runc-v2, ctr: run hack/install-deps.sh (it installs containerd)"},
		{"no CNI bridge", hostView{0, everything, without("bridge")},
			"missing CNI plugin bridge: run hack/install-deps.sh (it installs containernetworking-plugins)"},
		{"no cgroup v1", hostView{0, everything, without("cpuset.cpus")}, "no cgroup v1 cpuset hierarchy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.host.preflight()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBusyAddress(t *testing.T) {
	tests := []struct {
		name    string
		ifaces  map[string][]netip.Prefix
		wantErr string
	}{
		{"nothing in the range", map[string][]netip.Prefix{"eth0": {netip.MustParsePrefix("10.0.0.5/24")}}, ""},
		{"our own bridge", map[string][]netip.Prefix{bridgeName: {netip.MustParsePrefix("198.18.0.1/24")}}, ""},
		{"another interface in the range", map[string][]netip.Prefix{"docker0": {netip.MustParsePrefix("198.19.3.1/24")}},
			"address 198.19.3.1/24 on interface docker0 overlaps 198.18.0.0/15"},
		{"a wider route over it", map[string][]netip.Prefix{"tun0": {netip.MustParsePrefix("198.0.0.1/8")}}, "on interface tun0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := busyAddress(func() (map[string][]netip.Prefix, error) { return tt.ifaces, nil })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
