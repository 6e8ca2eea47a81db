package trustcmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	goldenfile "github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the commands print")

// testNow is the clock of every command under test, so certificates' dates and messages
// are the same on every run.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join(testdataDir, name), got, *update)
}

// testdataDir is absolute: tests chdir into a temporary folder to use short paths.
var testdataDir = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "testdata")
}()

// run runs `mesh trust args...` at testNow against f.
func run(f cmdutil.Factory, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := newCmdTrust(env{
		factory: f,
		streams: cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		now:     func() time.Time { return testNow },
	})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// inTempDir runs the test in a fresh folder, so that commands are given short relative
// paths (./anchor) that print the same on every run.
func inTempDir(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
}

// writeAnchor makes an anchor at testNow and writes it to dir as `mesh trust anchor` does.
func writeAnchor(t *testing.T, dir, cn string) *trust.CA {
	t.Helper()
	a, err := trust.NewAnchor(cn, trust.DefaultAnchorValidity, testNow)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, anchorCertFile), a.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, anchorKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// decode parses the YAML a command printed into objects, in order.
func decode(t *testing.T, out string) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(j)); s == "" || s == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

// typed converts a printed object into its Go type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// names maps the random parts of the output (fingerprints) to names a golden file can
// hold, and describes PEM instead of showing it.
type names map[string]string

// anchorNames names anchors' fingerprints.
func anchorNames(pairs ...any) names {
	n := names{}
	for i := 0; i < len(pairs); i += 2 {
		n[trust.Fingerprint(pairs[i].(*trust.CA).Cert)[:16]] = pairs[i+1].(string)
	}
	return n
}

// fingerprintRE finds a fingerprint's start as messages name an anchor (sha256 …) and as a
// metric's label does (anchor="…").
var fingerprintRE = regexp.MustCompile(`(sha256 |anchor=")([0-9a-f]{16})`)

// text replaces the fingerprints in s with the names of their anchors.
func (n names) text(s string) string {
	return fingerprintRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := fingerprintRE.FindStringSubmatch(m)
		if name, ok := n[sub[2]]; ok {
			return sub[1] + "<" + name + ">"
		}
		return sub[1] + "<unknown>"
	})
}

// yaml reprints what a command printed with every certificate and key described, not
// shown: keys and signatures differ on every run, names and dates do not.
func (n names) yaml(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	for i, u := range decode(t, out) {
		data, _, _ := unstructured.NestedMap(u.Object, "data")
		for k, v := range data {
			s, _ := v.(string)
			if u.GetKind() == "Secret" {
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatalf("%s %s: %v", u.GetName(), k, err)
				}
				s = string(raw)
			}
			data[k] = n.describePEM(t, s)
		}
		if data != nil {
			if err := unstructured.SetNestedMap(u.Object, data, "data"); err != nil {
				t.Fatal(err)
			}
		}
		if err := cmdutil.PrintYAMLMap(&b, u.Object, i > 0); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// describePEM describes each block of s in a line.
func (n names) describePEM(t *testing.T, s string) string {
	t.Helper()
	if strings.Contains(s, "PRIVATE KEY") {
		return "<private key>"
	}
	certs, err := trust.ParseCertificates([]byte(s))
	if err != nil {
		t.Fatalf("%v in %q", err, s)
	}
	var lines []string
	for _, c := range certs {
		lines = append(lines, n.describeCert(c))
	}
	return strings.Join(lines, "\n")
}

func (n names) describeCert(c *x509.Certificate) string {
	kind := "leaf"
	if c.IsCA {
		kind = "CA"
	}
	name := ""
	if a, ok := n[trust.Fingerprint(c)[:16]]; ok {
		name = " <" + a + ">"
	}
	return fmt.Sprintf("<%s%s %q issued by %q, %s to %s>", kind, name, c.Subject.CommonName, c.Issuer.CommonName,
		c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
}

// fakeFactory reaches fake clusters by kubeconfig context name.
type fakeFactory struct {
	clusters map[string]*kubefake.Clientset
}

func (f *fakeFactory) RESTConfig() (*rest.Config, error) {
	return nil, fmt.Errorf("the trust commands must name their contexts")
}

func (f *fakeFactory) RESTConfigForContext(name string) (*rest.Config, error) {
	if _, ok := f.clusters[name]; !ok {
		return nil, fmt.Errorf("kubeconfig: context %q does not exist (check --kubeconfig and --context)", name)
	}
	return &rest.Config{Host: "https://" + name + ".example:6443"}, nil
}

func (f *fakeFactory) ClientsFor(c *rest.Config) (*cmdutil.Clients, error) {
	for name, cs := range f.clusters {
		if c.Host == "https://"+name+".example:6443" {
			return &cmdutil.Clients{Kube: cs, Host: c.Host}, nil
		}
	}
	return nil, fmt.Errorf("dial %s: connection refused", c.Host)
}

// clusterObjects are what a cluster holds after applying objs, as typed objects for a
// fake clientset.
func clusterObjects(t *testing.T, objs []*unstructured.Unstructured) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, u := range objs {
		switch u.GetKind() {
		case "Secret":
			out = append(out, typed[corev1.Secret](t, u))
		case "ConfigMap":
			out = append(out, typed[corev1.ConfigMap](t, u))
		}
	}
	return out
}
