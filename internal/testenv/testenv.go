// Package testenv starts real apiservers for tests of controllers (controller-runtime's
// envtest) from the binaries this repository already builds: kube-apiserver from the
// Kubernetes tools module, etcd from Debian. No download, no fake.
//
// It is for tests only; it does not run kubelets or controllers (the e2e suite's clusters
// do).
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
)

// serviceRange keeps even an apiserver without a kube-proxy inside the run's address space.
const serviceRange = "198.19.240.0/20"

// Assets returns a folder holding kube-apiserver and etcd, as envtest wants them, building
// kube-apiserver on the first use (minutes; cached after).
func Assets(ctx context.Context) (string, error) {
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		return "", err
	}
	dir, err := b.Tool(ctx, build.Kubernetes())
	if err != nil {
		return "", err
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("envtest needs etcd: run hack/install-deps.sh (it installs etcd-server)")
	}
	assets := filepath.Join(b.Cache, "envtest")
	if err := os.MkdirAll(assets, 0o755); err != nil {
		return "", err
	}
	for name, target := range map[string]string{"kube-apiserver": filepath.Join(dir, "kube-apiserver"), "etcd": etcd} {
		link := filepath.Join(assets, name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return "", err
		}
	}
	return assets, nil
}

// New returns an envtest environment on assets, with the run's service range.
func New(assets string) *envtest.Environment {
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ErrorIfCRDPathMissing: true}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", serviceRange)
	// Debian's etcd 3.4 tells watchers its progress every 10 minutes by default, and the
	// apiserver's watch cache waits on it before answering a watch or list "from now" on a
	// quiet resource: seconds of delay. Kubernetes asks for a few seconds or less.
	env.ControlPlane.Etcd = &envtest.Etcd{}
	env.ControlPlane.Etcd.Configure().Set("experimental-watch-progress-notify-interval", "1s")
	return env
}
