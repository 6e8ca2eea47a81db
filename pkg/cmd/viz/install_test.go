package viz

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	installcmd "github.com/meshfed/meshfed/pkg/cmd/install"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run runs mesh viz with args against f (nil: no cluster), returning what it printed.
func run(f cmdutil.Factory, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := NewCmdViz(f, cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

var installArgs = []string{"install", "--cluster-name", "west", "--remote-clusters", "east,north=north.example.org"}

func TestInstallGolden(t *testing.T) {
	for _, tt := range []struct {
		file string
		args []string
	}{
		{"install.golden", installArgs},
		{"install_alone.golden", []string{"install", "--cluster-name", "east", "--export=false", "--trust-domain", "east.example.org"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			out, stderr, err := run(nil, tt.args...)
			if err != nil {
				t.Fatalf("%v; stderr %q", err, stderr)
			}
			golden.Check(t, filepath.Join("testdata", tt.file), out, *update)
			docs, err := cmdutil.DecodeDocuments([]byte(out))
			if err != nil {
				t.Fatal(err)
			}
			if docs[0].GetKind() != "Namespace" {
				t.Errorf("the first object is a %s: the namespace must come first", docs[0].GetKind())
			}
		})
	}
}

// installDocs renders mesh viz install with installArgs, object by object.
func installDocs(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	out, _, err := run(nil, installArgs...)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// Prometheus' RBAC is least privilege: reading pods, nothing else.
func TestInstallPrometheusRBAC(t *testing.T) {
	docs := installDocs(t)
	var roles int
	for _, d := range docs {
		switch d.GetKind() {
		case "Role", "RoleBinding":
			t.Errorf("unexpected %s %s", d.GetKind(), d.GetName())
		case "ClusterRole":
			roles++
			rules, _, _ := unstructuredSlice(d.Object, "rules")
			if len(rules) != 1 {
				t.Fatalf("ClusterRole %s has %d rules, want one", d.GetName(), len(rules))
			}
			r := rules[0].(map[string]any)
			if !slices.Equal(toStrings(r["resources"]), []string{"pods"}) || !slices.Equal(toStrings(r["verbs"]), []string{"get", "list", "watch"}) {
				t.Errorf("ClusterRole %s: %v, want get, list and watch on pods", d.GetName(), r)
			}
		}
	}
	if roles != 1 {
		t.Errorf("%d ClusterRoles, want Prometheus' alone", roles)
	}
}

func unstructuredSlice(m map[string]any, key string) ([]any, bool, error) {
	v, ok := m[key].([]any)
	return v, ok, nil
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func TestInstallBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-name", ""}, "--cluster-name is required"},
		{[]string{"--cluster-name", "West"}, `--cluster-name "West" is not a DNS label`},
		{[]string{"--trust-domain", "West_Domain"}, "--trust-domain"},
		{[]string{"--cluster-domain", "bad_domain"}, `--cluster-domain "bad_domain"`},
		{[]string{"--remote-clusters", "East"}, `--remote-clusters "East"`},
		{[]string{"--remote-clusters", "west"}, "names west, this cluster"},
		{[]string{"--remote-clusters", "east,east"}, "names east twice"},
		{[]string{"--remote-clusters", "north=bad_domain"}, "the trust domain"},
		{[]string{"--prometheus-image", "Prom/Prometheus:x"}, `--prometheus-image "Prom/Prometheus:x" is not an image reference`},
		{[]string{"--scrape-interval", "500ms"}, "--scrape-interval 500ms"},
		{[]string{"--retention", "1m"}, "--retention 1m0s"},
		{[]string{"--registry", ""}, "--registry is empty"},
		{[]string{"extra"}, `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(nil, append(slices.Clone(installArgs), tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %d bytes on failure", len(out))
			}
		})
	}
}

// The recording rules install prints are what Prometheus' own promtool accepts (Debian's
// prometheus package has it). Not the config: Debian builds Prometheus without
// kubernetes_sd, which the config needs (the official image has it).
func TestInstallPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MESHFED_REQUIRE_PROMETHEUS") != "" {
			t.Fatal("no promtool: run hack/install-deps.sh (Debian's prometheus package)")
		}
		t.Skip("no promtool: run hack/install-deps.sh (Debian's prometheus package)")
	}
	docs := installDocs(t)
	dir := t.TempDir()
	for _, d := range docs {
		if d.GetKind() != "ConfigMap" {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(d.Object, "data")
		if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(data["rules.yml"]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "rules", filepath.Join(dir, "rules.yml"))
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "SUCCESS: 5 rules found") {
		t.Fatalf("promtool check rules: %v\n%s", err, b)
	}
}

// The pods mesh viz install meshes (Prometheus when exported, the viz API) must be ones the
// injector's webhook is sent: its objectSelector, as mesh install renders it, leaves out the
// mesh's own components, and a pod it leaves out starts with no proxy, so that a linked
// cluster's viz API cannot read this Prometheus through the gateway. Seen on the local
// clusters: their labels once said part-of meshfed.
func TestInstallMeshedPodsReachTheInjector(t *testing.T) {
	var cp bytes.Buffer
	install := installcmd.NewCmdInstall(cmdutil.IOStreams{In: strings.NewReader(""), Out: &cp, ErrOut: io.Discard})
	install.SetArgs([]string{"--cluster-name", "west", "--identity-external-issuer"})
	install.SilenceUsage, install.SilenceErrors = true, true
	if err := install.Execute(); err != nil {
		t.Fatalf("mesh install: %v", err)
	}
	cpDocs, err := cmdutil.DecodeDocuments(cp.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var selector labels.Selector
	for _, d := range cpDocs {
		if d.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		var wh admissionregistrationv1.MutatingWebhookConfiguration
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, &wh); err != nil {
			t.Fatal(err)
		}
		if selector, err = metav1.LabelSelectorAsSelector(wh.Webhooks[0].ObjectSelector); err != nil {
			t.Fatal(err)
		}
	}
	if selector == nil {
		t.Fatal("mesh install renders no MutatingWebhookConfiguration")
	}

	docs := installDocs(t)
	meshed := 0
	for _, d := range docs {
		if d.GetKind() != "Deployment" {
			continue
		}
		var dep appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, &dep); err != nil {
			t.Fatal(err)
		}
		if dep.Spec.Template.Annotations["meshfed.io/inject"] != "enabled" {
			continue
		}
		meshed++
		if !selector.Matches(labels.Set(dep.Spec.Template.Labels)) {
			t.Errorf("Deployment %s asks for the proxy, but its pods' labels %v are outside the injector's objectSelector %s", dep.Name, dep.Spec.Template.Labels, selector)
		}
	}
	if meshed != 2 {
		t.Errorf("%d Deployments ask for the proxy, want 2 (Prometheus, exported, and the viz API)", meshed)
	}
}
