package setup

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshfed/meshfed/pkg/trust"
)

func anchorPEM(t *testing.T, name string) []byte {
	t.Helper()
	a, err := trust.NewAnchor(name, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a.CertPEM()
}

// A proxy starts from the bundle it kept (the identity service's latest) over the one in its
// env (the injector's, maybe from before a rotation); a missing or broken cache is passed
// over.
func TestBundlePrefersTheCache(t *testing.T) {
	dir := t.TempDir()
	envPEM, cachedPEM := anchorPEM(t, "from env"), anchorPEM(t, "kept")
	t.Setenv(BundleEnv, string(envPEM))
	cache := filepath.Join(dir, "ca-bundle.crt")
	broken := filepath.Join(dir, "broken.crt")
	if err := os.WriteFile(broken, []byte("half a PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(cache, cachedPEM); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cache string
		want        string
	}{
		{"kept", cache, "kept"},
		{"no cache named", "", "from env"},
		{"cache not written yet", filepath.Join(dir, "none"), "from env"},
		{"cache broken", broken, "from env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Bundle("/nonexistent", tt.cache)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Anchors()[0].Subject.CommonName; got != tt.want {
				t.Errorf("started from %q, want %q", got, tt.want)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".bundle-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
