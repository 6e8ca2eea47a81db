package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/addons"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/pkg/images"
)

// pauseImage is every pod's sandbox: containerd's sandbox_image names it, and nothing can pull it.
const pauseImage = "registry.k8s.io/pause:3.10"

// images builds every image a node gets at start: the pause image, the add-ons' and this
// repository's. Each is packed once and kept until what it is made of changes.
func (p *Provider) images(ctx context.Context) ([]string, error) {
	repoBins, err := p.builder.Repo(ctx, "./multicluster-e2e/cmd/pause", "./multicluster-e2e/cmd/echo", "./cmd/link", "./cmd/controller", "./cmd/proxy", "./cmd/gateway", "./cmd/demo")
	if err != nil {
		return nil, err
	}
	specs := []images.Spec{
		{Ref: pauseImage, Binary: filepath.Join(repoBins, "pause"), CACertificates: "-"},
		{Ref: build.RepoImage("echo"), Binary: filepath.Join(repoBins, "echo")},
		{Ref: build.RepoImage("link"), Binary: filepath.Join(repoBins, "link")},
		{Ref: build.RepoImage("controller"), Binary: filepath.Join(repoBins, "controller")},
		{Ref: build.RepoImage("proxy"), Binary: filepath.Join(repoBins, "proxy")},
		{Ref: build.RepoImage("gateway"), Binary: filepath.Join(repoBins, "gateway")},
		{Ref: build.RepoImage("demo"), Binary: filepath.Join(repoBins, "demo")},
	}
	for _, img := range addons.Images() {
		tool, ok := build.ToolByName(img.Tool)
		if !ok {
			return nil, fmt.Errorf("add-on image %s: no tool %q in package build", img.Name, img.Tool)
		}
		dir, err := p.builder.Tool(ctx, tool)
		if err != nil {
			return nil, err
		}
		specs = append(specs, images.Spec{Ref: img.Name, Binary: filepath.Join(dir, img.Binary), User: img.User})
	}
	var tarballs []string
	for _, s := range specs {
		t, err := p.pack(s)
		if err != nil {
			return nil, err
		}
		tarballs = append(tarballs, t)
	}
	return tarballs, nil
}

// pack writes s's tarball into the cache unless the one there has the same key.
func (p *Provider) pack(s images.Spec) (string, error) {
	dir := filepath.Join(p.builder.Cache, "images")
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

// loadImages imports tarballs into a node's containerd.
func loadImages(ctx context.Context, l layout, tarballs []string) error {
	if err := importImages(ctx, l.containerdSocket(), tarballs); err != nil {
		return fmt.Errorf("%w (see %s)", err, l.log("containerd"))
	}
	return nil
}

// importImages imports tarballs through the containerd serving on sock, into the namespace the
// CRI plugin reads, once it serves.
func importImages(ctx context.Context, sock string, tarballs []string) error {
	err := waitFor(ctx, 30*time.Second, "containerd to serve on "+sock, func() (bool, error) {
		out, err := exec.CommandContext(ctx, "ctr", "--address", sock, "version").CombinedOutput()
		if err != nil {
			return false, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, t := range tarballs {
		out, err := exec.CommandContext(ctx, "ctr", "--address", sock, "-n", "k8s.io", "images", "import", t).CombinedOutput()
		if err != nil {
			return fmt.Errorf("importing %s: %w: %s", filepath.Base(t), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
