package destination

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshfed/meshfed/pkg/trust"
)

// FollowBundleFile takes the bundle once it appears and each change after, and keeps the last
// good one through a file that is missing or not a bundle.
func TestFollowBundleFile(t *testing.T) {
	now := time.Now()
	var anchors []*trust.CA
	for _, cn := range []string{"first", "second"} {
		a, err := trust.NewAnchor(cn, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, a)
	}
	path := filepath.Join(t.TempDir(), trust.BundleKey)
	got := make(chan *trust.Bundle, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		FollowBundleFile(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), path, 10*time.Millisecond, func(b *trust.Bundle) { got <- b })
		close(done)
	}()
	defer func() { cancel(); <-done }()

	steps := []struct {
		name string
		file []byte // nil: removed
		want *trust.CA
	}{
		{"missing: nothing taken", nil, nil},
		{"appears", anchors[0].CertPEM(), anchors[0]},
		{"not a bundle: the last one stays", []byte("not PEM"), nil},
		{"changes", append(anchors[0].CertPEM(), anchors[1].CertPEM()...), anchors[1]},
		{"removed: the last one stays", nil, nil},
	}
	for _, s := range steps {
		if s.file == nil {
			os.Remove(path)
		} else if err := os.WriteFile(path, s.file, 0o644); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if s.want == nil || !b.Contains(s.want.Cert) {
				t.Fatalf("%s: took a bundle of %d anchors", s.name, len(b.Anchors()))
			}
		case <-time.After(200 * time.Millisecond):
			if s.want != nil {
				t.Fatalf("%s: no bundle taken", s.name)
			}
		}
	}
}
