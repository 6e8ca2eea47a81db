package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestWriteTarball(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hello")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Ref: "ghcr.io/meshfed/hello:v1", Binary: bin, CACertificates: ca, User: "1000"}
	out := filepath.Join(dir, "hello.tar")
	if err := WriteTarball(spec, out); err != nil {
		t.Fatal(err)
	}

	tag, _ := name.NewTag(spec.Ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/usr/local/bin/hello" {
		t.Errorf("entrypoint = %v, want [/usr/local/bin/hello]", got)
	}
	if cfg.Config.User != "1000" {
		t.Errorf("user = %q, want 1000", cfg.Config.User)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}

	files := map[string]int64{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h.Mode
	}
	for name, mode := range map[string]int64{
		"usr/local/bin/hello":               0o755,
		"etc/ssl/certs/ca-certificates.crt": 0o644,
		"tmp":                               0o1777,
	} {
		if got, ok := files[name]; !ok || got != mode {
			t.Errorf("%s: mode %o present=%v, want %o", name, got, ok, mode)
		}
	}
}

func TestKeyFollowsContent(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "b")
	write := func(s string) {
		if err := os.WriteFile(bin, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := Spec{Ref: "example.com/b:v1", Binary: bin, CACertificates: "-"}
	write("one")
	k1, err := spec.Key()
	if err != nil {
		t.Fatal(err)
	}
	write("two")
	k2, _ := spec.Key()
	if k1 == k2 {
		t.Error("key did not change with the binary")
	}
	spec.Ref = "example.com/b:v2"
	if k3, _ := spec.Key(); k3 == k2 {
		t.Error("key did not change with the ref")
	}
}

func TestBuildRefusesEmptyRef(t *testing.T) {
	if _, err := Build(Spec{Binary: "/bin/true"}); err == nil {
		t.Fatal("want an error for an empty Ref")
	}
}
