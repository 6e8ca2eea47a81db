package trustcmd

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/pkg/trust"
)

func kinds(objs []*unstructured.Unstructured) []string {
	var k []string
	for _, u := range objs {
		k = append(k, u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName())
	}
	return k
}

func TestClusterGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"cluster_cert_manager", []string{"--cert-manager"}},
		{"cluster_cert_manager_namespace", []string{"--cert-manager", "--cert-manager-namespace", "security"}},
		{"cluster_standalone", nil},
		{"cluster_standalone_bundle", []string{"--issuer-validity", "2160h", "--bundle", "next/ca.crt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			anchor := writeAnchor(t, "anchor", "meshfed trust anchor 2026")
			next := writeAnchor(t, "next", "meshfed trust anchor 2031")
			out, stderr, err := run(nil, append([]string{"cluster", "--anchor", "anchor", "--cluster", "west"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v; stderr %q", err, stderr)
			}
			n := anchorNames(anchor, "anchor", next, "next")
			golden(t, tt.name+".golden", n.yaml(t, out)+"\n# stderr:\n"+n.text(stderr))
		})
	}
}

// Without cert-manager, the issuer Secret holds an issuer the identity service can load,
// signed by the anchor, and the bundle verifies it.
func TestClusterStandalone(t *testing.T) {
	inTempDir(t)
	anchor := writeAnchor(t, "anchor", "a")
	out, _, err := run(nil, "cluster", "--anchor", "anchor", "--cluster", "eu-west-1", "--issuer-validity", "100h")
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, out)
	if got, want := kinds(objs), []string{"Namespace//mesh-system", "Secret/mesh-system/meshfed-identity-issuer", "ConfigMap/mesh-system/meshfed-trust-bundle"}; !slices.Equal(got, want) {
		t.Fatalf("printed %v, want %v", got, want)
	}
	secret := typed[corev1.Secret](t, objs[1])
	issuer, err := trust.LoadCA(secret.Data["tls.crt"], secret.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if issuer.Cert.Subject.CommonName != "identity.eu-west-1.meshfed" || !issuer.Cert.NotAfter.Equal(testNow.Add(100*time.Hour)) {
		t.Errorf("issuer %q until %s", issuer.Cert.Subject.CommonName, issuer.Cert.NotAfter)
	}
	bundle, err := trust.ParseBundle([]byte(typed[corev1.ConfigMap](t, objs[2]).Data[trust.BundleKey]))
	if err != nil {
		t.Fatal(err)
	}
	got, err := bundle.VerifyIssuer(issuer.Cert, issuer.Chain, testNow)
	if err != nil || !got.Equal(anchor.Cert) {
		t.Errorf("the bundle does not verify the issuer: %v", err)
	}
	if string(secret.Data["ca.crt"]) != string(anchor.CertPEM()) {
		t.Error("ca.crt is not the anchor")
	}
}

func TestClusterBadInput(t *testing.T) {
	inTempDir(t)
	anchor := writeAnchor(t, "anchor", "a")
	writeAnchor(t, "nokey", "b")
	if err := os.Remove("nokey/ca.key"); err != nil {
		t.Fatal(err)
	}
	// A folder whose ca.crt is an issuer, not an anchor.
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := issuer.KeyPEM()
	must(t, os.MkdirAll("issuer", 0o700))
	must(t, os.WriteFile("issuer/ca.crt", issuer.CertPEM(), 0o644))
	must(t, os.WriteFile("issuer/ca.key", key, 0o600))
	must(t, os.WriteFile("junk.pem", []byte("junk"), 0o644))
	must(t, os.WriteFile("issuer.pem", issuer.CertPEM(), 0o644))

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "west"}, "--anchor is required"},
		{[]string{"--anchor", "anchor"}, "--cluster is required"},
		{[]string{"--anchor", "anchor", "--cluster", "West"}, `--cluster: cluster name "West" is not a DNS-1123 label`},
		{[]string{"--anchor", "anchor", "--cluster", "west.eu"}, "is not a DNS-1123 label"},
		{[]string{"--anchor", "missing", "--cluster", "west"}, "--anchor missing: there is no ca.crt"},
		{[]string{"--anchor", "nokey", "--cluster", "west"}, "--anchor nokey: there is no ca.key"},
		{[]string{"--anchor", "issuer", "--cluster", "west"}, "--anchor issuer: ca.crt is not an anchor: block 1"},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--cert-manager", "--issuer-validity", "1h"}, "--issuer-validity applies without --cert-manager only"},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--cert-manager-namespace", "cm"}, "--cert-manager-namespace applies with --cert-manager only"},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--cert-manager", "--cert-manager-namespace", "CM"}, `--cert-manager-namespace "CM" is not a namespace name`},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--issuer-validity", "0s"}, "--issuer-validity 0s is not positive"},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--bundle", "junk.pem"}, "--bundle junk.pem: no PEM certificate"},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--bundle", "issuer.pem"}, "--bundle issuer.pem: block 1"},
		{[]string{"--anchor", "anchor", "--cluster", "west", "--bundle", "nothere.pem"}, "--bundle: open nothere.pem"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(nil, append([]string{"cluster"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %d bytes on failure", len(out))
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
