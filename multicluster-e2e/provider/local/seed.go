package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A seed is a containerd root holding every image a node starts with, imported once by a
// containerd of its own and kept in the cache. Each node's containerd root begins as a copy
// of it made of hard links: importing some 350 MiB of images into every node took most of the
// time a cluster needs to come up, and linking takes milliseconds. It is what kind's node image
// does with its preloaded images.
//
// Linking is safe because containerd never writes a blob or a committed snapshot in place:
// blobs are immutable, committed snapshots are overlay lower layers, and a container writes to
// an upper layer of its own. Only its bolt databases change in place, so those are copied.

// seed returns the seed for tarballs, making it when the cache has none.
func (p *Provider) seed(ctx context.Context, tarballs []string) (string, error) {
	key, err := seedKey(tarballs)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(p.builder.Cache, "containerd-seed", key[:16])
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".seed-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := importSeed(ctx, tmp, tarballs); err != nil {
		return "", fmt.Errorf("making the image seed: %w", err)
	}
	// Only the root is kept: state holds sockets and the running containerd's leftovers.
	if err := os.Rename(filepath.Join(tmp, "root"), dir); err != nil {
		return "", err
	}
	return dir, nil
}

// seedKey names a seed by what its images are made of (each tarball's key file, see pack)
// and the containerd that wrote it.
func seedKey(tarballs []string) (string, error) {
	h := sha256.New()
	for _, t := range tarballs {
		key, err := os.ReadFile(t + ".key")
		if err != nil {
			return "", fmt.Errorf("image %s has no key: %w", filepath.Base(t), err)
		}
		fmt.Fprintf(h, "%s %s\n", filepath.Base(t), key)
	}
	out, err := exec.Command("containerd", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("containerd --version: %w", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func importSeed(ctx context.Context, dir string, tarballs []string) error {
	config := filepath.Join(dir, "containerd.toml")
	sock := filepath.Join(dir, "containerd.sock")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)), 0o644)
	if err != nil {
		return err
	}
	// The log outlives the attempt, beside the seeds, for a look after a failure.
	logPath := filepath.Join(filepath.Dir(dir), "import.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command("containerd", "--config", config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// It must not outlive this process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting containerd: %w", err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	if err := importImages(ctx, sock, tarballs); err != nil {
		return fmt.Errorf("%w (see %s)", err, logPath)
	}
	return nil
}

// plantSeed makes root, a node's containerd root, a copy of seed: directories made, bolt
// databases copied, every other file hard-linked.
func plantSeed(seed, root string) error {
	return filepath.WalkDir(seed, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(seed, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case strings.HasSuffix(d.Name(), ".db"):
			return copyFile(path, dst, info.Mode().Perm())
		default:
			return os.Link(path, dst)
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
