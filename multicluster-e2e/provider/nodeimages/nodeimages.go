// Package nodeimages names and packs the images every node of the suite's clusters starts
// with, whichever provider runs them: this repository's binaries and the add-ons' images,
// each built from Go source by package build. Sharing the list keeps the local and kind
// clusters from drifting apart when an image is added.
//
// It does not load images anywhere (each provider does, its own way), and it leaves out the
// pod sandbox image, which only the local provider must supply.
package nodeimages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshfed/meshfed/multicluster-e2e/addons"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/pkg/images"
)

// repoBinaries are the main packages of this repository whose images the tests deploy.
var repoBinaries = []string{"echo", "link", "controller", "proxy", "gateway", "demo", "viz"}

// toolImage is an image of a binary built from a tools module under hack/tools that the
// tests deploy with the manifests of this repository (not an add-on of every cluster).
type toolImage struct {
	// Ref is the name the manifests use, tag included.
	Ref string
	// Tool names the tools module; Binary the binary it builds.
	Tool, Binary string
	// Path and User are those of the upstream image, so that a manifest written for it
	// (its args, its runAsUser) runs ours unchanged.
	Path, User string
}

// toolImages: Prometheus as mesh viz install runs it (prom/prometheus:v2.53.4, whose
// entrypoint is /bin/prometheus and whose user is nobody, 65534).
var toolImages = []toolImage{
	{Ref: "prom/prometheus:" + build.PrometheusVersion, Tool: "prometheus", Binary: "prometheus", Path: "/bin/prometheus", User: "65534"},
}

func repoPackage(bin string) string {
	if bin == "echo" {
		return "./multicluster-e2e/cmd/echo"
	}
	return "./cmd/" + bin
}

// Specs builds, or finds in the cache, every binary the nodes' images pack, and returns the
// images' specs.
func Specs(ctx context.Context, b *build.Builder) ([]images.Spec, error) {
	var pkgs []string
	for _, bin := range repoBinaries {
		pkgs = append(pkgs, repoPackage(bin))
	}
	for _, img := range addons.Images() {
		if img.Repo != "" {
			pkgs = append(pkgs, img.Repo)
		}
	}
	dir, err := b.Repo(ctx, pkgs...)
	if err != nil {
		return nil, err
	}
	var specs []images.Spec
	for _, bin := range repoBinaries {
		specs = append(specs, images.Spec{Ref: build.RepoImage(bin), Binary: filepath.Join(dir, bin)})
	}
	for _, img := range addons.Images() {
		if img.Repo != "" {
			specs = append(specs, images.Spec{Ref: img.Name, Binary: filepath.Join(dir, img.Binary), User: img.User})
			continue
		}
		tool, ok := build.ToolByName(img.Tool)
		if !ok {
			return nil, fmt.Errorf("add-on image %s: no tool %q in package build", img.Name, img.Tool)
		}
		dir, err := b.Tool(ctx, tool)
		if err != nil {
			return nil, err
		}
		specs = append(specs, images.Spec{Ref: img.Name, Binary: filepath.Join(dir, img.Binary), User: img.User})
	}
	for _, img := range toolImages {
		tool, ok := build.ToolByName(img.Tool)
		if !ok {
			return nil, fmt.Errorf("image %s: no tool %q in package build", img.Ref, img.Tool)
		}
		dir, err := b.Tool(ctx, tool)
		if err != nil {
			return nil, err
		}
		specs = append(specs, images.Spec{Ref: img.Ref, Binary: filepath.Join(dir, img.Binary), Path: img.Path, User: img.User})
	}
	return specs, nil
}

// Pack writes s's tarball into b's cache unless the one there has the same key, and returns
// its path. An image is packed once and kept until what it is made of changes.
func Pack(b *build.Builder, s images.Spec) (string, error) {
	dir := filepath.Join(b.Cache, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := strings.NewReplacer("/", "_", ":", "_").Replace(s.Ref)
	tarball := filepath.Join(dir, base+".tar")
	keyFile := tarball + ".key"
	key, err := s.Key()
	if err != nil {
		return "", err
	}
	if have, err := os.ReadFile(keyFile); err == nil && string(have) == key {
		if _, err := os.Stat(tarball); err == nil {
			return tarball, nil
		}
	}
	if err := images.WriteTarball(s, tarball); err != nil {
		return "", err
	}
	return tarball, os.WriteFile(keyFile, []byte(key), 0o644)
}

// PackAll packs every spec and returns the tarballs in the same order.
func PackAll(b *build.Builder, specs []images.Spec) ([]string, error) {
	var tarballs []string
	for _, s := range specs {
		t, err := Pack(b, s)
		if err != nil {
			return nil, err
		}
		tarballs = append(tarballs, t)
	}
	return tarballs, nil
}
