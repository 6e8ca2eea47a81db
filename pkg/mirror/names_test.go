package mirror

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestMirrorName(t *testing.T) {
	tests := []struct {
		name, cluster, want, wantErr string
	}{
		{"web", "east", "web-east", ""},
		{strings.Repeat("a", 58), "east", strings.Repeat("a", 58) + "-east", ""},
		{strings.Repeat("a", 59), "east", "", "link the cluster under a shorter name"},
	}
	for _, tt := range tests {
		got, err := mirrorName(tt.name, tt.cluster)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("mirrorName(%d chars): %v, want an error saying %q", len(tt.name), err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("mirrorName(%q, %q) = %q, %v; want %q", tt.name, tt.cluster, got, err, tt.want)
		}
	}
}

func TestPodMirrorNameIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, host := range []string{"web-0", "web-1", strings.Repeat("h", 63) + "-0", strings.Repeat("h", 63) + "-1"} {
		for _, svc := range []string{"db", strings.Repeat("s", 60)} {
			n := podMirrorName(host, svc, "east")
			if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
				t.Errorf("podMirrorName(%q, %q) = %q: %v", host, svc, n, errs)
			}
			if seen[n] {
				t.Errorf("podMirrorName(%q, %q) = %q twice", host, svc, n)
			}
			seen[n] = true
		}
	}
}

func TestLinkLabelRoundTrip(t *testing.T) {
	for _, l := range []types.NamespacedName{{Namespace: "mesh-multicluster", Name: "east"}, {Namespace: "a", Name: "b.c"}} {
		ns, name, ok := splitLinkLabel(linkLabel(l))
		if !ok || ns != l.Namespace || name != l.Name {
			t.Errorf("%v: got %q %q %v", l, ns, name, ok)
		}
	}
	for _, bad := range []string{"", "nodot", ".x", "x."} {
		if _, _, ok := splitLinkLabel(bad); ok {
			t.Errorf("splitLinkLabel(%q) accepted", bad)
		}
	}
}
