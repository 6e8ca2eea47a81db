package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/inject/webhook"
)

// The chart deploy/charts/meshfed, rendered by the real helm, holds the same objects as
// `mesh install --identity-external-issuer` with the same values: compared object by object
// (by kind, namespace and name, then whole), so that helm's "# Source:" comments and its
// order of documents play no part. helm lint passes on it too. helm is built from the Go
// module proxy (hack/tools/helm) on the first run and cached.
func TestChartMatchesInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm on the first run: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := b.Tool(ctx, build.Helm())
	if err != nil {
		t.Fatal(err)
	}
	helm := filepath.Join(dir, "helm")
	chart := filepath.Join(b.Root, "deploy", "charts", "meshfed")

	tests := []struct {
		name    string
		install []string
		set     []string
	}{
		{"defaults", []string{"--cluster-name", "west"}, []string{"clusterName=west"}},
		{"ha, registry and version",
			[]string{"--cluster-name", "east", "--ha", "--registry", "registry.example.com/meshfed/", "--version", "v0.1.0"},
			[]string{"clusterName=east", "ha=true", "registry=registry.example.com/meshfed/", "version=v0.1.0"}},
		{"trust domain", []string{"--cluster-name", "west", "--trust-domain", "prod.example.com"}, []string{"clusterName=west", "trustDomain=prod.example.com"}},
		// The chart takes the CA of a serving certificate made outside it; install makes one
		// (its Secret is install's alone) and the chart gets that CA.
		{"injector certificate made outside", []string{"--cluster-name", "west", "--injector-certificate=install"}, []string{"clusterName=west"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := run(append(tt.install, "--identity-external-issuer")...)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(tt.install, "--injector-certificate=install") {
				var caBundle string
				want, caBundle = withoutInjectorSecret(t, want)
				tt.set = append(tt.set, "injectorCABundle="+caBundle)
			}
			args := []string{"template", "meshfed", chart, "--namespace", "mesh-system"}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			got := helmRun(t, ctx, helm, args...)
			compareObjects(t, []byte(want), got)

			lint := []string{"lint", chart, "--strict"}
			for _, s := range tt.set {
				lint = append(lint, "--set", s)
			}
			helmRun(t, ctx, helm, lint...)
		})
	}

	// Without clusterName the chart refuses to render, as mesh install refuses to print.
	cmd := exec.CommandContext(ctx, helm, "template", "meshfed", chart)
	if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("clusterName is required")) {
		t.Errorf("helm template with no clusterName: %v\n%s\nwant it to fail, saying clusterName is required", err, out)
	}
}

// helmRun runs helm with a home of its own (no user config, no repositories) and returns
// its output, failing the test on an error.
func helmRun(t *testing.T, ctx context.Context, helm string, args ...string) []byte {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// compareObjects compares two streams of YAML documents as sets of objects.
func compareObjects(t *testing.T, want, got []byte) {
	t.Helper()
	wantObjs, err := objectsByKey(want)
	if err != nil {
		t.Fatalf("mesh install: %v", err)
	}
	gotObjs, err := objectsByKey(got)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	for _, k := range sortedKeys(wantObjs) {
		g, ok := gotObjs[k]
		switch {
		case !ok:
			t.Errorf("%s: in mesh install's output, not in the chart's", k)
		case !reflect.DeepEqual(g, wantObjs[k]):
			var gy, wy bytes.Buffer
			cmdutil.PrintYAMLMap(&gy, g, false)
			cmdutil.PrintYAMLMap(&wy, wantObjs[k], false)
			t.Errorf("%s differs between mesh install and the chart:\n--- mesh install\n%s--- helm template\n%s", k, wy.String(), gy.String())
		}
	}
	for _, k := range sortedKeys(gotObjs) {
		if _, ok := wantObjs[k]; !ok {
			t.Errorf("%s: in the chart's output, not in mesh install's", k)
		}
	}
}

func objectsByKey(data []byte) (map[string]map[string]any, error) {
	docs, err := cmdutil.DecodeDocuments(data)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, d := range docs {
		k := fmt.Sprintf("%s %s %s/%s", d.GetAPIVersion(), d.GetKind(), d.GetNamespace(), d.GetName())
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s twice", k)
		}
		out[k] = d.Object
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no objects")
	}
	return out, nil
}

func sortedKeys(m map[string]map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// withoutInjectorSecret returns install's output less the injector's Secret, which the chart
// does not make, and the webhook's caBundle.
func withoutInjectorSecret(t *testing.T, out string) (string, string) {
	t.Helper()
	docs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	var caBundle string
	for _, d := range docs {
		if d.GetKind() == "Secret" && d.GetName() == webhook.CertSecretName {
			continue
		}
		if d.GetKind() == "MutatingWebhookConfiguration" {
			hooks, _, _ := unstructured.NestedSlice(d.Object, "webhooks")
			caBundle, _, _ = unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
		}
		b, err := yaml.Marshal(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, string(b))
	}
	if caBundle == "" {
		t.Fatal("install printed no caBundle")
	}
	return strings.Join(kept, "---\n"), caBundle
}
