package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/meshfed/meshfed/pkg/trust"
)

// FollowBundleFile reads the trust bundle at path (the ConfigMap meshfed-trust-bundle as the
// kubelet mounts it) every interval until ctx ends, and calls set with each bundle that
// differs from the last one taken. A file missing or not a bundle leaves the last one in
// place: the kubelet swaps the file whole, so a bad read is a bad ConfigMap, logged, never
// half a file. The volume rather than a watch on the API: the service then needs no RBAC
// for it, and the kubelet follows the ConfigMap, renewals included.
func FollowBundleFile(ctx context.Context, log *slog.Logger, path string, interval time.Duration, set func(*trust.Bundle)) {
	var last []byte
	var lastErr string
	for {
		b, pemBytes, err := ReadBundleFile(path)
		switch {
		case err != nil:
			if err.Error() != lastErr {
				log.Warn("trust bundle not read; the last one stays", "file", path, "error", err)
				lastErr = err.Error()
			}
		case !bytes.Equal(pemBytes, last):
			log.Info("trust bundle loaded", "file", path, "anchors", len(b.Anchors()))
			set(b)
			last, lastErr = pemBytes, ""
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// ReadBundleFile reads a trust bundle (PEM anchors) from path, and its bytes.
func ReadBundleFile(path string) (*trust.Bundle, []byte, error) {
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("no trust bundle at %s yet: the ConfigMap %s/%s is mounted there once it exists (mesh trust cluster, or mesh install --anchor, makes it)", path, trust.Namespace, trust.BundleConfigMapName)
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := trust.ParseBundle(pemBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, pemBytes, nil
}
