package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Every embedded multicluster manifest is printed: one added to the folder but not to the
// order would be silently left out of `mesh multicluster install`.
func TestMulticlusterOrderListsEveryFile(t *testing.T) {
	embedded := globbed(multicluster, "multicluster/*.yaml")
	ordered := slices.Clone(multiclusterOrder)
	slices.Sort(ordered)
	if !slices.Equal(embedded, ordered) {
		t.Errorf("embedded %v, ordered %v: list every file of deploy/multicluster in multiclusterOrder", embedded, multiclusterOrder)
	}
}

func TestControlPlaneOrderListsEveryFile(t *testing.T) {
	embedded := globbed(controlplane, chartTemplates+"*.yaml")
	ordered := slices.Clone(controlplaneOrder)
	slices.Sort(ordered)
	if !slices.Equal(embedded, ordered) {
		t.Errorf("embedded %v, ordered %v: list every file of deploy/charts/meshfed/templates in controlplaneOrder", embedded, controlplaneOrder)
	}
}

// Every CRD is in exactly one of the lists the commands print: one added to deploy/crds
// but to no list would be installed by no command.
func TestCRDsArePartitioned(t *testing.T) {
	var all, parts []string
	for _, m := range CRDs() {
		all = append(all, m.Path)
	}
	for _, m := range append(MulticlusterCRDs(), ControlPlaneCRDs()...) {
		parts = append(parts, m.Path)
	}
	slices.Sort(all)
	slices.Sort(parts)
	if !slices.Equal(all, parts) {
		t.Errorf("CRDs() %v, MulticlusterCRDs() and ControlPlaneCRDs() %v: give each CRD of deploy/crds to one list", all, parts)
	}
	if len(PolicyCRDs()) != 4 {
		t.Errorf("%d policy CRDs, want 4 (Server, AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication)", len(PolicyCRDs()))
	}
}

// Every document parses and names its kind and name: what kubectl apply needs.
func TestManifestsParse(t *testing.T) {
	cp, err := ControlPlane(ControlPlaneValues{Registry: "ghcr.io/meshfed", Version: "dev", ClusterName: "west", ClusterSet: "meshfed", TrustDomain: "west.meshfed.local", HA: true}) // HA, names: every file holds something
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(CRDs(), Multicluster()...), cp...)
	if len(CRDs()) == 0 {
		t.Fatal("no CRDs embedded")
	}
	for _, m := range all {
		d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(m.Data), 4096)
		n := 0
		for {
			var u unstructured.Unstructured
			err := d.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", m.Path, n, err)
			}
			if u.Object == nil {
				continue
			}
			if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
				t.Errorf("%s: document %d lacks apiVersion, kind or metadata.name", m.Path, n)
			}
			n++
		}
		if n == 0 {
			t.Errorf("%s holds no document", m.Path)
		}
	}
}

// The chart's values are the ones ControlPlane hands the templates, with the defaults of
// `mesh install` (its images and --clusterset): a value added to one side only would render
// differently in Helm.
func TestChartValues(t *testing.T) {
	data, err := fs.ReadFile(controlplane, "charts/meshfed/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart map[string]any
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	ours := ControlPlaneValues{Registry: "ghcr.io/meshfed", Version: "dev", ClusterSet: DefaultClusterSet}.chartValues()["Values"].(map[string]any)
	if !maps.Equal(chart, ours) {
		t.Errorf("values.yaml %v; ControlPlane's (with mesh install's default images) %v", chart, ours)
	}
}

// The chart's CRDs are deploy/crds' ClusterProperty and policy CRDs, which `mesh install
// --crds` prints: crds/ holds copies, as Helm reads the chart's folder alone. make generate
// copies them.
func TestChartCRDs(t *testing.T) {
	copies, err := filepath.Glob("charts/meshfed/crds/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, m := range ControlPlaneCRDs() {
		want[path.Base(m.Path)] = m.Data
	}
	got := map[string][]byte{}
	for _, c := range copies {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(c)] = b
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("deploy/charts/meshfed/crds differs from the ClusterProperty and policy CRDs of deploy/crds: cp deploy/crds/about.k8s.io_*.yaml deploy/crds/policy.meshfed.io_*.yaml deploy/charts/meshfed/crds/ (and remove any other file there)")
	}
}
