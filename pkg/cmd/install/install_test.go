package install

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/inject/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func run(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := NewCmdInstall(cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	// Never nil: cobra reads os.Args for nil, which holds go test's own flags (-update).
	cmd.SetArgs(append([]string{}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestInstallGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"install.golden":      {"--cluster-name", "west", "--identity-external-issuer"},
		"install_crds.golden": {"--crds"},
	} {
		out, err := run(args...)
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", name), out, *update)
	}
}

// --ha: three replicas of each server, and a disruption budget each.
func TestInstallHA(t *testing.T) {
	out, err := run("--cluster-name", "west", "--identity-external-issuer", "--ha")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	deployments, pdbs := 0, 0
	for _, d := range docs {
		switch d.GetKind() {
		case "Deployment":
			deployments++
			if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 3 {
				t.Errorf("Deployment %s has %d replicas with --ha; want 3", d.GetName(), r)
			}
		case "PodDisruptionBudget":
			pdbs++
		}
	}
	if deployments == 0 || pdbs != deployments {
		t.Errorf("%d Deployments, %d PodDisruptionBudgets; want one each", deployments, pdbs)
	}
}

func TestUninstallGolden(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := NewCmdUninstall(cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "uninstall.golden"), out.String(), *update)
}

// The trust domain and the images are all that differ between clusters and registries.
func TestInstallValues(t *testing.T) {
	def, err := run("--cluster-name", "west", "--identity-external-issuer")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := run("--cluster-name", "west", "--identity-external-issuer", "--trust-domain", "prod.example.com", "--registry", "registry.example.com/meshfed", "--version", "v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"--trust-domain=west.meshfed.local", "--trust-domain=prod.example.com",
		"image: ghcr.io/meshfed/controller:dev", "image: registry.example.com/meshfed/controller:v0.1.0",
		"--proxy-image=ghcr.io/meshfed/proxy:dev", "--proxy-image=registry.example.com/meshfed/proxy:v0.1.0",
	).Replace(def)
	if custom != want {
		t.Errorf("with --trust-domain, --registry and --version: %s", golden.FirstDiff(want, custom))
	}
}

// --injector-certificate=install: no cert-manager object, the serving certificate in its
// Secret, and the webhook trusting its CA for the Service's name.
func TestInstallInjectorCertificate(t *testing.T) {
	out, err := run("--cluster-name", "west", "--identity-external-issuer", "--injector-certificate=install")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var secret, hook *unstructured.Unstructured
	for i, d := range docs {
		switch {
		case strings.HasPrefix(d.GetAPIVersion(), "cert-manager.io/"):
			t.Errorf("%s %s printed: cert-manager is not wanted", d.GetKind(), d.GetName())
		case d.GetKind() == "Secret" && d.GetName() == webhook.CertSecretName:
			secret = d
			if i != 1 {
				t.Errorf("the Secret is document %d; want it right after the namespace", i)
			}
		case d.GetKind() == "MutatingWebhookConfiguration":
			hook = d
		}
	}
	if secret == nil || hook == nil {
		t.Fatalf("Secret %s or the MutatingWebhookConfiguration missing:\n%s", webhook.CertSecretName, out)
	}
	if _, ok := hook.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok {
		t.Error("the webhook still asks cert-manager's cainjector for its caBundle")
	}
	hooks, _, _ := unstructured.NestedSlice(hook.Object, "webhooks")
	caB64, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
	caPEM, err := base64.StdEncoding.DecodeString(caB64)
	if err != nil {
		t.Fatalf("caBundle: %v", err)
	}
	data, _, _ := unstructured.NestedStringMap(secret.Object, "data")
	raw := map[string][]byte{}
	for k, v := range data {
		if raw[k], err = base64.StdEncoding.DecodeString(v); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.X509KeyPair(raw["tls.crt"], raw["tls.key"])
	if err != nil {
		t.Fatalf("the Secret's pair: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the caBundle holds no certificate")
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "meshfed-injector.mesh-system.svc"}); err != nil {
		t.Errorf("the serving certificate does not verify with the caBundle as the apiserver checks it: %v", err)
	}
}

func TestInstallBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--cluster-name is required"},
		{[]string{"--crds", "--cluster-name", "west"}, "--crds prints the CRDs alone"},
		{[]string{"--crds", "--identity-external-issuer"}, "--crds prints the CRDs alone"},
		{[]string{"--cluster-name", "West", "--identity-external-issuer"}, "--cluster-name: cluster name \"West\" is not a DNS-1123 label"},
		{[]string{"--cluster-name", "west", "--identity-external-issuer", "--trust-domain", "Prod.Example"}, "--trust-domain: the trust domain \"Prod.Example\" is not lower case"},
		{[]string{"--cluster-name", "west", "--identity-external-issuer", "--trust-domain", "a_b"}, "--trust-domain: the trust domain \"a_b\" is not a DNS name"},
		{[]string{"--cluster-name", "west", "--identity-external-issuer", "--version", "v1:2"}, "--version \"v1:2\" is not an image tag"},
		{[]string{"--cluster-name", "west", "--identity-external-issuer", "extra"}, "unknown command"},
		{[]string{"--cluster-name", "west"}, "say where the cluster's issuer comes from: --identity-external-issuer when"},
		{[]string{"--cluster-name", "west", "--identity-external-issuer", "--anchor", "./anchor"}, "--identity-external-issuer and --anchor exclude each other"},
		{[]string{"--cluster-name", "west", "--anchor", "/nonexistent"}, "--anchor /nonexistent: there is no ca.crt"},
		{[]string{"--cluster-name", "west", "--identity-external-issuer", "--injector-certificate", "self"}, `--injector-certificate "self": give cert-manager`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := run(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %d bytes on failure", len(out))
			}
		})
	}
}
