package nodeimages

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	vizcmd "github.com/meshfed/meshfed/pkg/cmd/viz"
	"github.com/meshfed/meshfed/pkg/images"
)

// Pack is what keeps a second `clusters up` from repacking every image: it must reuse a
// tarball whose inputs did not change, and repack one whose did.
func TestPackReusesUntilTheBinaryChanges(t *testing.T) {
	b := &build.Builder{Root: t.TempDir(), Cache: t.TempDir()}
	bin := filepath.Join(t.TempDir(), "echo")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho one\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := images.Spec{Ref: "ghcr.io/meshfed/echo:dev", Binary: bin}

	first, err := Pack(b, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(b.Cache, "images", "ghcr.io_meshfed_echo_dev.tar"); first != want {
		t.Errorf("tarball at %s, want %s", first, want)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(first, old, old); err != nil {
		t.Fatal(err)
	}

	again, err := Pack(b, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(again); again != first || !st.ModTime().Equal(old) {
		t.Errorf("an unchanged image was packed again")
	}

	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho two\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(b, spec); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(first); st.ModTime().Equal(old) {
		t.Errorf("a changed binary was not packed again")
	}
}

func TestRepoPackages(t *testing.T) {
	for _, bin := range repoBinaries {
		pkg := repoPackage(bin)
		if _, err := os.Stat(filepath.Join("..", "..", "..", pkg, "main.go")); err != nil {
			t.Errorf("image %s: package %s has no main.go: %v", bin, pkg, err)
		}
	}
}

// mesh viz install names prom/prometheus unless told otherwise: the nodes must hold an image
// of that very name, or Prometheus' pod waits for ever on a pull that cannot happen.
func TestPrometheusImageIsTheOneVizInstallNames(t *testing.T) {
	for _, img := range toolImages {
		if img.Tool != "prometheus" {
			continue
		}
		if img.Ref != vizcmd.DefaultPrometheusImage {
			t.Errorf("the nodes' Prometheus image is %s, mesh viz install names %s", img.Ref, vizcmd.DefaultPrometheusImage)
		}
		if _, ok := build.ToolByName(img.Tool); !ok {
			t.Errorf("image %s: no tool %q in build.Tools()", img.Ref, img.Tool)
		}
		return
	}
	t.Error("no Prometheus among the nodes' images")
}
