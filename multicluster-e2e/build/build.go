package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tool is a set of binaries built from one tools module under hack/tools.
type Tool struct {
	// Name is the module's folder under hack/tools.
	Name string
	// Version is what the binaries say they are; part of the cache key.
	Version string
	// Packages are the main packages to build.
	Packages []string
	// LDFlags are extra linker flags, such as -X stamps of the version.
	LDFlags []string
}

// Builder builds tools and this repository's binaries.
type Builder struct {
	// Root is the repository's top folder.
	Root string
	// Cache holds built binaries and packed images.
	Cache string
	// Log receives a line before each build that does real work.
	Log io.Writer
}

// Tool builds t unless a build with the same inputs is cached, and returns the folder that
// holds its binaries.
func (b *Builder) Tool(ctx context.Context, t Tool) (string, error) {
	modDir := filepath.Join(b.Root, "hack", "tools", t.Name)
	key, err := b.toolKey(modDir, t)
	if err != nil {
		return "", fmt.Errorf("tool %s: %w", t.Name, err)
	}
	dir := filepath.Join(b.Cache, "tools", fmt.Sprintf("%s-%s-%s", t.Name, t.Version, key[:12]))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	// go test runs packages in parallel processes, and several of them may need the same tool
	// on a fresh machine: one builds it while the others wait, then find it cached.
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", fmt.Errorf("tool %s: %w", t.Name, err)
	}
	defer unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	fmt.Fprintf(b.log(), "Building %s %s from the Go module proxy (the first build takes minutes; it is cached in %s)\n", t.Name, t.Version, dir)
	// Built into a temporary folder and renamed, so an interrupted build is never taken for a
	// cached one.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := goBuild(ctx, modDir, tmp, t.LDFlags, t.Packages); err != nil {
		return "", fmt.Errorf("building %s %s: %w", t.Name, t.Version, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Repo builds main packages of this repository (such as "./multicluster-e2e/cmd/pause") into
// the cache and returns the folder of their binaries. The Go build cache makes a second run cheap.
func (b *Builder) Repo(ctx context.Context, pkgs ...string) (string, error) {
	dir := filepath.Join(b.Cache, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := goBuild(ctx, b.Root, dir, nil, pkgs); err != nil {
		return "", fmt.Errorf("building %s: %w", strings.Join(pkgs, " "), err)
	}
	return dir, nil
}

func (b *Builder) log() io.Writer {
	if b.Log == nil {
		return io.Discard
	}
	return b.Log
}

func (b *Builder) toolKey(modDir string, t Tool) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", fmt.Errorf("the tools module is incomplete: %w", err)
		}
		h.Write(data)
	}
	fmt.Fprintf(h, "%q %q %q", t.Version, t.Packages, t.LDFlags)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goBuild builds static binaries: they run in images with nothing else in them.
func goBuild(ctx context.Context, dir, out string, ldflags, pkgs []string) error {
	args := []string{"build", "-trimpath", "-ldflags", strings.Join(append([]string{"-s", "-w"}, ldflags...), " "), "-o", out + "/"}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return nil
}

// tail keeps the last n lines of a failed command's output: where the error usually is.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// NewFromWorkingDir returns a Builder for the repository holding the working directory, with
// its cache in $MESHFED_CACHE or else the repository's ignored .cache folder.
func NewFromWorkingDir(log io.Writer) (*Builder, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := findRoot(wd)
	if err != nil {
		return nil, err
	}
	cache := os.Getenv("MESHFED_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	return &Builder{Root: root, Cache: cache, Log: log}, nil
}

const modulePath = "github.com/meshfed/meshfed"

func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module "+modulePath+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s is not inside the meshfed repository: run from the repository (the tools are built from its hack/tools)", dir)
		}
	}
}
