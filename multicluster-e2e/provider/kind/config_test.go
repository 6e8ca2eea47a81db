package kind

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestRenderConfig(t *testing.T) {
	cs, err := plan([]string{"west", "east"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Run(c.Name, func(t *testing.T) {
			got, err := renderConfig(c, DefaultNodeImage)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "config-"+c.Name+".yaml", got)

			// What kind reads: a mistake in the template must not hide in the golden file.
			var cfg struct {
				Kind, APIVersion, Name string
				Networking             struct{ PodSubnet, ServiceSubnet string }
				Nodes                  []struct{ Role, Image string }
			}
			if err := yaml.UnmarshalStrict(got, &cfg); err != nil {
				t.Fatalf("the config is not what kind reads: %v", err)
			}
			if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" || cfg.Name != c.kindName() {
				t.Errorf("kind %q apiVersion %q name %q", cfg.Kind, cfg.APIVersion, cfg.Name)
			}
			if cfg.Networking.PodSubnet != c.PodCIDR.String() || cfg.Networking.ServiceSubnet != c.ServiceCIDR.String() {
				t.Errorf("networking %+v, want %s and %s", cfg.Networking, c.PodCIDR, c.ServiceCIDR)
			}
			if len(cfg.Nodes) != 1 || cfg.Nodes[0].Role != "control-plane" || cfg.Nodes[0].Image != DefaultNodeImage {
				t.Errorf("nodes %+v, want one control-plane of %s", cfg.Nodes, DefaultNodeImage)
			}
		})
	}
}

func TestRenderConfigRefusesABadImage(t *testing.T) {
	c := newCluster("west", 0)
	for _, image := range []string{"", "kindest/node:v1.35.8\nnodes: []", "a b", `x"`} {
		if _, err := renderConfig(c, image); err == nil || !strings.Contains(err.Error(), "not an image reference") {
			t.Errorf("image %q: %v, want it refused", image, err)
		}
	}
}

func TestImageVersion(t *testing.T) {
	tests := []struct{ image, want string }{
		{DefaultNodeImage, "v1.35.8"},
		{"kindest/node:v1.35.4", "v1.35.4"},
		{"localhost:5000/kindest/node:v1.35.4@sha256:abcd", "v1.35.4"},
		{"localhost:5000/kindest/node", ""},
		{"kindest/node:latest", ""},
		{"kindest/node", ""},
	}
	for _, tt := range tests {
		if got := imageVersion(tt.image); got != tt.want {
			t.Errorf("imageVersion(%q) = %q, want %q", tt.image, got, tt.want)
		}
	}
}
