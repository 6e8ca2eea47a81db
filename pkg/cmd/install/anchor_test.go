package install

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
)

// With --anchor, install prints the issuer Secret and the trust bundle ConfigMap after the
// namespace, the issuer chains to the given anchor and is the cluster's, the bundle holds that
// anchor, and the rest is what --identity-external-issuer prints. The issuer's key is fresh
// on every run, so this is checked here rather than in a golden file.
func TestInstallAnchor(t *testing.T) {
	now := time.Now()
	anchor, err := trust.NewAnchor("test anchor", 24*time.Hour*365, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, err := anchor.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), anchor.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := run("--cluster-name", "west", "--anchor", dir)
	if err != nil {
		t.Fatal(err)
	}
	external, err := run("--cluster-name", "west", "--identity-external-issuer")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 3 || docs[0].GetKind() != "Namespace" || docs[1].GetName() != trust.IssuerSecretName || docs[2].GetName() != trust.BundleConfigMapName {
		t.Fatalf("the output does not start with the namespace, the issuer Secret and the bundle ConfigMap: %v", kindsAndNames(docs))
	}
	secret, cm := docs[1], docs[2]
	if secret.GetKind() != "Secret" || secret.GetNamespace() != trust.Namespace || cm.GetKind() != "ConfigMap" || cm.GetNamespace() != trust.Namespace {
		t.Errorf("issuer %s %s/%s, bundle %s %s/%s; want a Secret and a ConfigMap in %s", secret.GetKind(), secret.GetNamespace(), secret.GetName(), cm.GetKind(), cm.GetNamespace(), cm.GetName(), trust.Namespace)
	}

	crt, _, _ := unstructured.NestedString(secret.Object, "data", corev1.TLSCertKey)
	keyPEM, _, _ := unstructured.NestedString(secret.Object, "data", corev1.TLSPrivateKeyKey)
	issuer, err := trust.LoadCA(decode(t, crt), decode(t, keyPEM))
	if err != nil {
		t.Fatalf("the issuer Secret: %v", err)
	}
	if got, err := trust.NewBundle(anchor.Cert).VerifyIssuer(issuer.Cert, nil, now); err != nil || !got.Equal(anchor.Cert) {
		t.Errorf("the issuer does not chain to the anchor of --anchor: %v", err)
	}
	if cn := issuer.Cert.Subject.CommonName; cn != trust.IssuerCommonName("west") {
		t.Errorf("issuer %q, want the cluster's %q", cn, trust.IssuerCommonName("west"))
	}
	bundlePEM, _, _ := unstructured.NestedString(cm.Object, "data", trust.BundleKey)
	bundle, err := trust.ParseBundle([]byte(bundlePEM))
	if err != nil {
		t.Fatalf("the bundle ConfigMap: %v", err)
	}
	if len(bundle.Anchors()) != 1 || !bundle.Contains(anchor.Cert) {
		t.Errorf("the bundle holds %d anchors; want the anchor of --anchor alone", len(bundle.Anchors()))
	}

	// Take the two out: what is left is the control plane, as --identity-external-issuer
	// prints it.
	var rest strings.Builder
	for i, d := range append(docs[:1:1], docs[3:]...) {
		if err := cmdutil.PrintYAMLMap(&rest, d.Object, i > 0); err != nil {
			t.Fatal(err)
		}
	}
	if rest.String() != external {
		t.Errorf("the control plane differs from --identity-external-issuer's: %s", golden.FirstDiff(external, rest.String()))
	}
}

// decode reads a Secret's data value, base64 in YAML.
func decode(t *testing.T, b64 string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kindsAndNames(docs []*unstructured.Unstructured) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.GetKind()+" "+d.GetName())
	}
	return out
}
