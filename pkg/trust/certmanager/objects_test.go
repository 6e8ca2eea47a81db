package certmanager

import (
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/pkg/trust"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustAnchor(t *testing.T, cn string) *trust.CA {
	t.Helper()
	a, err := trust.NewAnchor(cn, trust.DefaultAnchorValidity, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// keyOf names an object as kind/namespace/name.
func keyOf(t *testing.T, obj runtime.Object) string {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := m["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	if m["apiVersion"] == nil || md["labels"].(map[string]any)[trust.PartOfLabel] != trust.PartOfValue {
		t.Errorf("%T %s: no apiVersion, or not labelled %s=%s", obj, name, trust.PartOfLabel, trust.PartOfValue)
	}
	return obj.GetObjectKind().GroupVersionKind().Kind + "/" + ns + "/" + name
}

func keysOf(t *testing.T, objs []runtime.Object) []string {
	var keys []string
	for _, o := range objs {
		keys = append(keys, keyOf(t, o))
	}
	return keys
}

func TestCertManagerObjects(t *testing.T) {
	anchor := mustAnchor(t, "anchor")
	objs, err := CertManagerObjects("west", anchor, trust.NewBundle(anchor.Cert), "cert-manager")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Namespace//mesh-system",
		"Secret/cert-manager/meshfed-trust-anchor",
		"ClusterIssuer//meshfed-trust-anchor",
		"Certificate/mesh-system/meshfed-identity-issuer",
		"ConfigMap/mesh-system/meshfed-trust-bundle",
	}
	if got := keysOf(t, objs); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}

	secret := objs[1].(*corev1.Secret)
	loaded, err := trust.LoadCA(secret.Data["tls.crt"], secret.Data["tls.key"])
	if err != nil || !loaded.Cert.Equal(anchor.Cert) || !loaded.Key.Equal(anchor.Key) {
		t.Errorf("the anchor Secret does not load as the anchor: %v", err)
	}
	if secret.Type != corev1.SecretTypeTLS || string(secret.Data["ca.crt"]) != string(anchor.CertPEM()) {
		t.Errorf("type %q, ca.crt %q", secret.Type, secret.Data["ca.crt"])
	}

	ci := objs[2].(*cmv1.ClusterIssuer)
	if ci.Spec.CA == nil || ci.Spec.CA.SecretName != trust.AnchorSecretName || ci.APIVersion != "cert-manager.io/v1" {
		t.Errorf("ClusterIssuer %s spec %+v", ci.APIVersion, ci.Spec)
	}

	c := objs[3].(*cmv1.Certificate).Spec
	if !c.IsCA || c.CommonName != "identity.west.meshfed" || c.SecretName != trust.IssuerSecretName ||
		c.Duration.Duration != 48*time.Hour || c.RenewBefore.Duration != 25*time.Hour {
		t.Errorf("Certificate spec %+v", c)
	}
	if pk := c.PrivateKey; pk == nil || pk.Algorithm != cmv1.ECDSAKeyAlgorithm || pk.Size != 256 || pk.RotationPolicy != cmv1.RotationPolicyAlways {
		t.Errorf("private key %+v, want ECDSA 256 rotated always", pk)
	}
	if !slices.Equal(c.Usages, []cmv1.KeyUsage{"cert sign", "crl sign"}) {
		t.Errorf("usages %v", c.Usages)
	}
	if r := c.IssuerRef; r.Name != trust.AnchorIssuerName || r.Kind != "ClusterIssuer" || r.Group != "cert-manager.io" {
		t.Errorf("issuerRef %+v", r)
	}
	if c.SecretTemplate == nil || c.SecretTemplate.Labels[trust.PartOfLabel] != trust.PartOfValue {
		t.Errorf("secretTemplate %+v: the issuer Secret would not be labelled", c.SecretTemplate)
	}

	checkBundle(t, objs[4], anchor.Cert.Raw)
}

func checkBundle(t *testing.T, obj runtime.Object, anchors ...[]byte) {
	t.Helper()
	cm := obj.(*corev1.ConfigMap)
	b, err := trust.ParseBundle([]byte(cm.Data[trust.BundleKey]))
	if err != nil {
		t.Fatalf("the bundle ConfigMap: %v", err)
	}
	var got [][]byte
	for _, a := range b.Anchors() {
		got = append(got, a.Raw)
	}
	if !slices.EqualFunc(got, anchors, slices.Equal) {
		t.Errorf("the bundle holds %d anchors, not the %d expected", len(got), len(anchors))
	}
}

func TestStandaloneObjects(t *testing.T) {
	old, next := mustAnchor(t, "old"), mustAnchor(t, "new")
	issuer, err := trust.NewIssuer(next, trust.IssuerCommonName("west"), trust.DefaultIssuerValidity, testNow)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := StandaloneObjects(issuer, next.Cert, trust.NewBundle(old.Cert, next.Cert))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Namespace//mesh-system", "Secret/mesh-system/meshfed-identity-issuer", "ConfigMap/mesh-system/meshfed-trust-bundle"}
	if got := keysOf(t, objs); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	secret := objs[1].(*corev1.Secret)
	loaded, err := trust.LoadCA(secret.Data["tls.crt"], secret.Data["tls.key"])
	if err != nil || !loaded.Cert.Equal(issuer.Cert) {
		t.Fatalf("the issuer Secret does not load as the issuer: %v", err)
	}
	ca, err := trust.ParseBundle(secret.Data["ca.crt"])
	if err != nil || !ca.Contains(next.Cert) || len(ca.Anchors()) != 1 {
		t.Errorf("ca.crt is not the new anchor: %v", err)
	}
	checkBundle(t, objs[2], old.Cert.Raw, next.Cert.Raw)
}

func TestObjectsBadInput(t *testing.T) {
	anchor, other := mustAnchor(t, "anchor"), mustAnchor(t, "other")
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		err  string
	}{
		{"bundle without the anchor, cert-manager", func() error {
			_, err := CertManagerObjects("west", anchor, trust.NewBundle(other.Cert), "cert-manager")
			return err
		}, "does not hold the anchor"},
		{"bundle without the anchor", func() error {
			_, err := StandaloneObjects(issuer, anchor.Cert, trust.NewBundle(other.Cert))
			return err
		}, "does not hold the anchor"},
		{"bad cluster name", func() error {
			_, err := CertManagerObjects("West", anchor, trust.NewBundle(anchor.Cert), "cert-manager")
			return err
		}, `cluster name "West" is not a DNS-1123 label`},
		{"bad cert-manager namespace", func() error {
			_, err := CertManagerObjects("west", anchor, trust.NewBundle(anchor.Cert), "Cert_Manager")
			return err
		}, `cert-manager's namespace "Cert_Manager" is not a namespace name`},
		{"empty bundle", func() error {
			_, err := BundleConfigMap(trust.NewBundle())
			return err
		}, "holds no anchor"},
		{"no issuer", func() error {
			_, err := IssuerSecret(nil, anchor.Cert)
			return err
		}, "needs the issuer and its anchor"},
		{"anchor without key", func() error {
			_, err := AnchorSecret(&trust.CA{Cert: anchor.Cert}, "cert-manager")
			return err
		}, "needs a CA with its key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}
