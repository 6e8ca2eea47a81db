package trustwatch

import (
	"os"
	"testing"
)

func TestBundleStore(t *testing.T) {
	pemBytes, err := os.ReadFile("../../inject/testdata/bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	s := NewBundleStore(func(p string) { changes = append(changes, p) })
	if s.Get() != "" {
		t.Error("a bundle before any Load")
	}
	if _, err := s.Load(map[string]string{"ca-bundle.crt": string(pemBytes)}); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]map[string]string{
		"no key":  {"other": string(pemBytes)},
		"not PEM": {"ca-bundle.crt": "x"},
	} {
		if _, err := s.Load(bad); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
	if _, err := s.Load(map[string]string{"ca-bundle.crt": string(pemBytes)}); err != nil {
		t.Fatal(err)
	}
	if s.Get() != string(pemBytes) {
		t.Error("a bad ConfigMap replaced the bundle")
	}
	if len(changes) != 1 {
		t.Errorf("changed was told %d times, want once: the same bundle again is no change", len(changes))
	}
}
