package trustcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/pkg/trust"
)

func TestAnchorWritesFiles(t *testing.T) {
	inTempDir(t)
	out, stderr, err := run(nil, "anchor", "--out", "anchor")
	if err != nil {
		t.Fatalf("%v; stderr %q", err, stderr)
	}
	if out != "" {
		t.Errorf("printed %q on stdout: it is for kubectl, and anchor prints nothing to apply", out)
	}
	for name, mode := range map[string]os.FileMode{"ca.key": 0o600, "ca.crt": 0o644, ".": 0o700} {
		fi, err := os.Stat(filepath.Join("anchor", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	a, err := readAnchor("--anchor", "anchor")
	if err != nil {
		t.Fatal(err)
	}
	if cn := a.Cert.Subject.CommonName; cn != "meshfed trust anchor 2026-03-01" {
		t.Errorf("common name %q", cn)
	}
	if !a.Cert.NotAfter.Equal(testNow.Add(trust.DefaultAnchorValidity)) {
		t.Errorf("NotAfter %s", a.Cert.NotAfter)
	}
	for _, want := range []string{"anchor/ca.key: its private key. Keep it secret", "anchor/ca.crt: the certificate", "mesh trust cluster --anchor anchor --cluster west"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if entries, _ := os.ReadDir("anchor"); len(entries) != 2 {
		t.Errorf("left %d files in --out, want ca.crt and ca.key only", len(entries))
	}
}

func TestAnchorKeepsAnExistingKey(t *testing.T) {
	inTempDir(t)
	old := writeAnchor(t, "anchor", "old")
	_, _, err := run(nil, "anchor", "--out", "anchor")
	if err == nil || !strings.Contains(err.Error(), "--out anchor already holds ca.key") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("error %v, want a refusal naming --force", err)
	}
	if a, err := readAnchor("--anchor", "anchor"); err != nil || !a.Cert.Equal(old.Cert) {
		t.Fatalf("the anchor changed: %v", err)
	}
	if _, _, err := run(nil, "anchor", "--out", "anchor", "--force", "--common-name", "next", "--validity", "1h"); err != nil {
		t.Fatal(err)
	}
	a, err := readAnchor("--anchor", "anchor")
	if err != nil || a.Cert.Subject.CommonName != "next" || a.Cert.Equal(old.Cert) {
		t.Fatalf("--force did not replace the anchor: %v", err)
	}
	if fi, _ := os.Stat("anchor/ca.key"); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced key has mode %v", fi.Mode().Perm())
	}
}

func TestAnchorBadInput(t *testing.T) {
	inTempDir(t)
	if err := os.WriteFile("file", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--out is required"},
		{[]string{"--out", "a", "--validity", "0s"}, "--validity 0s is not positive"},
		{[]string{"--out", "a", "--validity", "-1h"}, "is not positive"},
		{[]string{"--out", "file"}, "--out file: mkdir file"},
		{[]string{"--out", "a", "extra"}, `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(nil, append([]string{"anchor"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
