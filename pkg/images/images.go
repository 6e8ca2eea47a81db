package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultCACertificates is where Debian keeps the bundle copied into every image, so that
// binaries which talk TLS to public endpoints find roots where Go looks for them.
const DefaultCACertificates = "/etc/ssl/certs/ca-certificates.crt"

// Spec describes one image.
type Spec struct {
	// Ref is the image name the manifests use, such as "ghcr.io/meshfed/proxy:v0.1.0".
	Ref string
	// Binary is the path of a static binary on this machine.
	Binary string
	// Path is where the binary lives in the image; "/usr/local/bin/<base name>" when empty.
	Path string
	// User is the image's USER, as "1000"; root when empty. Pods that ask for runAsNonRoot
	// without a runAsUser are refused an image that runs as root.
	User string
	// CACertificates is a PEM bundle put at /etc/ssl/certs/ca-certificates.crt;
	// DefaultCACertificates when empty, none when "-".
	CACertificates string
}

func (s Spec) binaryPath() string {
	if s.Path != "" {
		return s.Path
	}
	return path.Join("/usr/local/bin", filepath.Base(s.Binary))
}

// Key identifies what an image is made of: the same key means the same image, so a caller can
// skip packing when the key of the tarball it has matches.
func (s Spec) Key() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "ref=%s\npath=%s\nuser=%s\n", s.Ref, s.binaryPath(), s.User)
	for _, f := range []string{s.Binary, s.caPath()} {
		if f == "" {
			continue
		}
		file, err := os.Open(f)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
		_, err = io.Copy(h, file)
		file.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s Spec) caPath() string {
	switch s.CACertificates {
	case "":
		return DefaultCACertificates
	case "-":
		return ""
	}
	return s.CACertificates
}

// Build makes the image described by spec.
func Build(spec Spec) (v1.Image, error) {
	if spec.Ref == "" {
		return nil, fmt.Errorf("image for %s: Ref is empty: give the image name the manifests use", spec.Binary)
	}
	layer, err := rootfs(spec)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = "amd64"
	cfg.Config.Entrypoint = []string{spec.binaryPath()}
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + DefaultCACertificates}
	cfg.Config.WorkingDir = "/"
	cfg.Config.User = spec.User
	return mutate.ConfigFile(img, cfg)
}

// WriteTarball packs spec into a docker-archive tarball at out, tagged with spec.Ref. The file
// is written beside out and renamed, so a reader never sees half an image.
func WriteTarball(spec Spec, out string) error {
	img, err := Build(spec)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		return fmt.Errorf("image %s: Ref is not a valid image name: %w", spec.Ref, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".image-*.tar")
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	defer os.Remove(tmp.Name())
	if err := tarball.Write(tag, img, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing image %s: %w", spec.Ref, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing image %s: %w", spec.Ref, err)
	}
	return os.Rename(tmp.Name(), out)
}

// rootfs is the single layer: kept uncompressed, as compressing a 100 MiB binary costs more
// than moving it between processes on one machine saves.
func rootfs(spec Spec) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the layer's digest a function of its content alone.
	mtime := time.Unix(0, 0)
	dirs := map[string]bool{}
	addDir := func(dir string, mode int64) error {
		for _, d := range parents(dir) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			m := int64(0o755)
			if "/"+d == path.Clean(dir) {
				m = mode
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: m, ModTime: mtime}); err != nil {
				return err
			}
		}
		return nil
	}
	addFile := func(src, dst string, mode int64) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := addDir(path.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst[1:], Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	}
	if err := addDir("/tmp", 0o1777); err != nil {
		return nil, err
	}
	if ca := spec.caPath(); ca != "" {
		if err := addFile(ca, DefaultCACertificates, 0o644); err != nil {
			return nil, fmt.Errorf("CA certificates: %w (install ca-certificates, or set CACertificates to \"-\")", err)
		}
	}
	if err := addFile(spec.Binary, spec.binaryPath(), 0o755); err != nil {
		return nil, fmt.Errorf("binary: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return static.NewLayer(buf.Bytes(), types.DockerUncompressedLayer), nil
}

// parents lists dir and its ancestors, outermost first, without the leading slash.
func parents(dir string) []string {
	var out []string
	for d := path.Clean(dir); d != "/" && d != "."; d = path.Dir(d) {
		out = append([]string{d[1:]}, out...)
	}
	return out
}
