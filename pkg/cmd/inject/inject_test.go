package inject

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the command prints")

// fakeFactory reaches one fake cluster.
type fakeFactory struct{ objects []runtime.Object }

func (f fakeFactory) RESTConfig() (*rest.Config, error) {
	return &rest.Config{Host: "https://198.18.0.2:6443"}, nil
}

func (f fakeFactory) ClientsFor(c *rest.Config) (*cmdutil.Clients, error) {
	return &cmdutil.Clients{Kube: kubefake.NewClientset(f.objects...), Host: c.Host}, nil
}

// noCluster is the factory of a user with no kubeconfig.
type noCluster struct{}

func (noCluster) RESTConfig() (*rest.Config, error) {
	return nil, fmt.Errorf("no kubeconfig: pass --kubeconfig, or set KUBECONFIG, to reach a cluster")
}

func (noCluster) ClientsFor(*rest.Config) (*cmdutil.Clients, error) { panic("unreachable") }

func run(f cmdutil.Factory, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := NewCmdInject(f, cmdutil.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

var offline = []string{"--cluster-name", "west", "--bundle", filepath.Join("testdata", "bundle.pem")}

func TestInjectGolden(t *testing.T) {
	tests := []struct {
		name  string
		input string
		args  []string
	}{
		{"deployment", "deployment.yaml", nil},
		{"deployment_classic", "deployment.yaml", []string{"--native-sidecar=false"}},
		{"list", "list.yaml", nil},
		{"kinds", "kinds.yaml", []string{"--registry", "registry.example.com/meshfed", "--version", "v0.1.0"}},
		{"skipped", "skipped.yaml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := run(noCluster{}, "", append(append([]string{filepath.Join("testdata", tt.input)}, offline...), tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), stdout+"# stderr:\n"+stderr, *update)

			// What was printed is stable: injecting it again changes nothing.
			again, stderr2, err := run(noCluster{}, stdout, append(append([]string{"-"}, offline...), tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if again != stdout {
				t.Errorf("injecting the output again changed it: %s", golden.FirstDiff(stdout, again))
			}
			if strings.Contains(stderr2, " injected\n") {
				t.Errorf("injecting the output again injected something:\n%s", stderr2)
			}
		})
	}
}

// An object that is not injected is printed as it came: the same object, whatever the order
// of its fields.
func TestSkippedObjectsPassThrough(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "skipped.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(noCluster{}, string(in), append([]string{"-"}, offline...)...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decode(in)
	if err != nil {
		t.Fatal(err)
	}
	var reprinted bytes.Buffer
	for i, d := range want {
		if err := cmdutil.PrintYAMLMap(&reprinted, d.object, i > 0); err != nil {
			t.Fatal(err)
		}
	}
	if stdout != reprinted.String() {
		t.Errorf("skipped objects changed: %s", golden.FirstDiff(reprinted.String(), stdout))
	}
	for _, w := range []string{
		`deployment.apps/bad-annotation skipped: annotation meshfed.io/proxy-memory-limit: "lots"`,
		"deployment.apps/port-conflict skipped: container b declares port 4191",
		"pod/host-network skipped: the pod uses the node's network",
		"daemonset.apps/opted-out skipped: the pod template has meshfed.io/inject: disabled",
		"deployment.apps/injected-before skipped: already injected (meshfed.io/injected: v0.0.9)",
		"secret/not-a-workload skipped: a Secret has no pod template",
	} {
		if !strings.Contains(stderr, w+"") {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

func TestBundleFromTheCluster(t *testing.T) {
	pem, err := os.ReadFile(filepath.Join("testdata", "bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: trust.BundleConfigMapName, Namespace: trust.Namespace},
		Data:       map[string]string{trust.BundleKey: string(pem)},
	}
	input := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: busybox\n"
	stdout, stderr, err := run(fakeFactory{objects: []runtime.Object{cm}}, input, "-", "--cluster-name", "west")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "MIIBfzCCASSgAwIBAgIQLEe9o1fZAJioRxfwPlLaHTAKBggqhkjOPQQDAjAeMRww") || stderr != "pod/p injected\n" {
		t.Errorf("stderr %q; stdout without the cluster's bundle:\n%s", stderr, stdout)
	}

	_, _, err = run(fakeFactory{}, input, "-", "--cluster-name", "west")
	if err == nil || !strings.Contains(err.Error(), "no ConfigMap mesh-system/meshfed-trust-bundle in https://198.18.0.2:6443: apply 'mesh trust cluster' there first, or pass --bundle FILE") {
		t.Errorf("with no bundle in the cluster: %v", err)
	}
	bad := cm.DeepCopy()
	bad.Data[trust.BundleKey] = "not PEM"
	_, _, err = run(fakeFactory{objects: []runtime.Object{bad}}, input, "-", "--cluster-name", "west")
	if err == nil || !strings.Contains(err.Error(), "the ConfigMap mesh-system/meshfed-trust-bundle, key ca-bundle.crt:") {
		t.Errorf("with a bad bundle in the cluster: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	bundle := filepath.Join("testdata", "bundle.pem")
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: busybox\n"
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no file", "", []string{"--cluster-name", "west"}, "give one FILE to inject, or - for standard input (got 0 arguments)"},
		{"no trust domain", pod, []string{"-", "--bundle", bundle}, "--cluster-name or --trust-domain is required"},
		{"bad cluster name", pod, []string{"-", "--cluster-name", "West", "--bundle", bundle}, `--cluster-name: cluster name "West" is not a DNS-1123 label`},
		{"bad version", pod, []string{"-", "--cluster-name", "west", "--bundle", bundle, "--version", "a:b"}, `--version "a:b" is not an image tag`},
		{"no cluster", pod, []string{"-", "--cluster-name", "west"}, "reading the trust bundle from the cluster (or pass --bundle FILE): no kubeconfig"},
		{"missing bundle file", pod, []string{"-", "--cluster-name", "west", "--bundle", "testdata/none.pem"}, "--bundle: open testdata/none.pem: no such file"},
		{"bad bundle file", pod, []string{"-", "--cluster-name", "west", "--bundle", "testdata/kinds.yaml"}, "--bundle testdata/kinds.yaml:"},
		{"missing input", "", []string{"testdata/none.yaml", "--cluster-name", "west", "--bundle", bundle}, "reading the objects to inject: open testdata/none.yaml"},
		{"malformed second document", pod + "---\n# comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [a\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 2: line 15: did not find expected ',' or ']'"},
		{"bad indentation", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n   labels: x\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 1: line 5: mapping values are not allowed in this context"},
		{"not an object", pod + "---\n- a\n- b\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 2 (line 10): not a Kubernetes object but a list"},
		{"no kind", "---\napiVersion: v1\nmetadata:\n  name: x\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 1 (line 2): an object with no apiVersion or kind"},
		{"list item with no kind", "apiVersion: v1\nkind: List\nitems:\n- metadata:\n    name: x\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 1 (line 1): item 1 of the List: an object with no apiVersion or kind"},
		{"template of the wrong shape", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template: []\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 1 (line 1): deployment.apps/d: no pod template: .spec.template is not an object"},
		{"template with a field of the wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers: 3\n", []string{"-", "--cluster-name", "west", "--bundle", bundle},
			"standard input: document 1 (line 1): deployment.apps/d: the pod template at .spec.template:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := run(noCluster{}, tt.stdin, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant one holding %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("printed %d bytes on failure", len(stdout))
			}
		})
	}
}

// The names the command prints for the webhook to recognise are pkg/inject's.
func TestPrintedAnnotations(t *testing.T) {
	stdout, _, err := run(noCluster{}, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    image: busybox\n", append([]string{"-"}, offline...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{inject.AnnotationInject + ": " + inject.InjectEnabled, inject.AnnotationInjected + ": dev", "name: " + inject.ProxyContainerName, "value: pod/p"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("no %q in\n%s", w, stdout)
		}
	}
}
