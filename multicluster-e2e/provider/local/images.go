package local

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/provider/nodeimages"
	"github.com/meshfed/meshfed/pkg/images"
)

// pauseImage is every pod's sandbox: containerd's sandbox_image names it, and nothing can pull it.
const pauseImage = "registry.k8s.io/pause:3.10"

// images builds every image a node gets at start: the pause image, and the add-ons' and this
// repository's (package nodeimages, shared with the kind provider).
func (p *Provider) images(ctx context.Context) ([]string, error) {
	pauseBin, err := p.builder.Repo(ctx, "./multicluster-e2e/cmd/pause")
	if err != nil {
		return nil, err
	}
	specs, err := nodeimages.Specs(ctx, p.builder)
	if err != nil {
		return nil, err
	}
	pause := images.Spec{Ref: pauseImage, Binary: filepath.Join(pauseBin, "pause"), CACertificates: "-"}
	return nodeimages.PackAll(p.builder, append([]images.Spec{pause}, specs...))
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
