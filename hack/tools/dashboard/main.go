// Command dashboard bundles the viz dashboard's page (pkg/viz/dashboard/web) with the npm
// packages it uses into pkg/viz/dashboard/dist, with no Node: it fetches each package's
// tarball at the exact version and integrity web/npm.lock.json pins, into a cache that git
// ignores, and bundles with esbuild's Go API. `go generate ./pkg/viz/dashboard` runs it;
// the output is committed, and `make verify-generate` checks it is what the sources make.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evanw/esbuild/pkg/api"
)

// pkg is one pinned npm package.
type pkg struct {
	Name, Version, Tarball, Integrity string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

func run() error {
	web := flag.String("web", "", "the page's sources: app.js, index.html, npm.lock.json")
	out := flag.String("out", "", "where the bundle goes")
	cache := flag.String("cache", "", "where the npm tarballs are kept (default $MESHFED_CACHE/npm, else .cache/npm at the repository's top)")
	flag.Parse()
	if *web == "" || *out == "" {
		return errors.New("--web and --out are required")
	}
	if *cache == "" {
		*cache = filepath.Join(os.Getenv("MESHFED_CACHE"), "npm")
		if os.Getenv("MESHFED_CACHE") == "" {
			top, err := filepath.Abs(filepath.Join(*web, "..", "..", "..", ".."))
			if err != nil {
				return err
			}
			*cache = filepath.Join(top, ".cache", "npm")
		}
	}
	lock, err := os.ReadFile(filepath.Join(*web, "npm.lock.json"))
	if err != nil {
		return err
	}
	var pkgs []pkg
	if err := json.Unmarshal(lock, &pkgs); err != nil {
		return fmt.Errorf("npm.lock.json: %w", err)
	}
	modules := filepath.Join(*cache, "node_modules")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, p := range pkgs {
		if err := fetch(ctx, p, *cache, modules); err != nil {
			return fmt.Errorf("%s@%s: %w", p.Name, p.Version, err)
		}
	}
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{filepath.Join(*web, "app.js")},
		Bundle:            true,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Format:            api.FormatIIFE,
		Target:            api.ES2020,
		NodePaths:         []string{modules},
		Outdir:            *out,
		EntryNames:        "dashboard",
		LegalComments:     api.LegalCommentsLinked,
		Write:             true,
		LogLevel:          api.LogLevelWarning,
		Charset:           api.CharsetUTF8,
	})
	if len(res.Errors) > 0 {
		var b strings.Builder
		for _, e := range res.Errors {
			fmt.Fprintf(&b, "\n  %s", e.Text)
			if e.Location != nil {
				fmt.Fprintf(&b, " (%s:%d)", e.Location.File, e.Location.Line)
			}
		}
		return fmt.Errorf("esbuild:%s", b.String())
	}
	return nil
}

// fetch puts p's files under modules/<name>: from the cached tarball when its integrity
// holds, else downloaded afresh and checked.
func fetch(ctx context.Context, p pkg, cache, modules string) error {
	algo, want, ok := strings.Cut(p.Integrity, "-")
	if !ok || algo != "sha512" {
		return fmt.Errorf("integrity %q: want sha512-<base64>, as npm's registry gives it", p.Integrity)
	}
	tgz := filepath.Join(cache, fmt.Sprintf("%s-%s.tgz", p.Name, p.Version))
	data, err := os.ReadFile(tgz)
	if err != nil || !matches(data, want) {
		data, err = download(ctx, p.Tarball)
		if err != nil {
			return err
		}
		if !matches(data, want) {
			return fmt.Errorf("%s does not match its integrity %s: the lock file or the registry is wrong", p.Tarball, p.Integrity)
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(tgz, data, 0o644); err != nil {
			return err
		}
	}
	dir := filepath.Join(modules, p.Name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return extract(data, dir)
}

func matches(data []byte, want string) bool {
	sum := sha512.Sum512(data)
	return base64.StdEncoding.EncodeToString(sum[:]) == want
}

func download(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// extract writes the files of an npm tarball (all under package/) into dir.
func extract(data []byte, dir string) error {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		_, rel, ok := strings.Cut(h.Name, "/")
		if !ok || !filepath.IsLocal(rel) {
			return fmt.Errorf("tarball entry %q is outside its package", h.Name)
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, io.LimitReader(tr, 64<<20))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}
