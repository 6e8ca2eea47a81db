package trustcmd

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// keySentinel replaces every issuer key in the fake clusters: verify must never print it.
const keySentinel = "SECRET-KEY-MATERIAL"

// installed is what a cluster holds after applying `mesh trust cluster args...`, with
// its key replaced by keySentinel.
func installed(t *testing.T, args ...string) []runtime.Object {
	t.Helper()
	out, stderr, err := run(nil, append([]string{"cluster"}, args...)...)
	if err != nil {
		t.Fatalf("%v; %s", err, stderr)
	}
	objs := clusterObjects(t, decode(t, out))
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			s.Data["tls.key"] = []byte(keySentinel)
		}
	}
	return objs
}

// federation is a fake cluster per context.
func federation(clusters map[string][]runtime.Object) *fakeFactory {
	f := &fakeFactory{clusters: map[string]*kubefake.Clientset{}}
	for name, objs := range clusters {
		f.clusters[name] = kubefake.NewClientset(objs...)
	}
	return f
}

func TestVerify(t *testing.T) {
	inTempDir(t)
	anchor := writeAnchor(t, "anchor", "meshfed trust anchor 2026")
	next := writeAnchor(t, "next", "meshfed trust anchor 2031")
	stranger := writeAnchor(t, "stranger", "someone else's anchor")
	n := anchorNames(anchor, "anchor", next, "next", stranger, "stranger")

	west := installed(t, "--anchor", "anchor", "--cluster", "west")
	east := installed(t, "--anchor", "anchor", "--cluster", "east")
	eastAlone := installed(t, "--anchor", "stranger", "--cluster", "east")
	eastShort := installed(t, "--anchor", "anchor", "--cluster", "east", "--issuer-validity", "10h")
	westBoth := installed(t, "--anchor", "anchor", "--cluster", "west", "--bundle", "next/ca.crt")
	eastNew := installed(t, "--anchor", "next", "--cluster", "east", "--bundle", "anchor/ca.crt")
	bundleOnly := []runtime.Object{east[1]} // the ConfigMap, no issuer Secret

	tests := []struct {
		name     string
		clusters map[string][]runtime.Object
		args     []string
		// broken makes a cluster's API server fail to answer.
		broken string
		fails  string
	}{
		{name: "verify_ok", clusters: map[string][]runtime.Object{"west": west, "east": east}, args: []string{"--context", "west", "--context", "east"}},
		{name: "verify_one", clusters: map[string][]runtime.Object{"west": west}, args: []string{"--context", "west"}},
		{name: "verify_other_anchor", clusters: map[string][]runtime.Object{"west": west, "east": eastAlone}, args: []string{"--context", "west", "--context", "east"}, fails: "2 of 8 checks failed"},
		{name: "verify_missing", clusters: map[string][]runtime.Object{"west": west, "east": bundleOnly, "north": nil}, args: []string{"--context", "west", "--context", "east", "--context", "north", "--context", "south"}, fails: "checks failed"},
		{name: "verify_unreachable", clusters: map[string][]runtime.Object{"west": west, "east": east}, broken: "east", args: []string{"--context", "west", "--context", "east"}, fails: "checks failed"},
		{name: "verify_expiring", clusters: map[string][]runtime.Object{"west": west, "east": eastShort}, args: []string{"--context", "west", "--context", "east"}, fails: "1 of 8 checks failed"},
		{name: "verify_rotating", clusters: map[string][]runtime.Object{"west": westBoth, "east": eastNew}, args: []string{"--context", "west", "--context", "east", "--require-anchor", "next/ca.crt", "--require-issuer-anchor", "next/ca.crt"}, fails: "1 of 12 checks failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := federation(tt.clusters)
			if tt.broken != "" {
				f.clusters[tt.broken].PrependReactor("get", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("dial tcp 198.18.0.3:6443: connect: connection refused")
				})
			}
			out, stderr, err := run(f, append([]string{"verify"}, tt.args...)...)
			if tt.fails == "" && err != nil || tt.fails != "" && (err == nil || !strings.Contains(err.Error(), tt.fails)) {
				t.Errorf("error %v, want %q", err, tt.fails)
			}
			if stderr != "" {
				t.Errorf("stderr %q", stderr)
			}
			if strings.Contains(out, keySentinel) {
				t.Error("printed an issuer's key")
			}
			golden(t, tt.name+".golden", n.text(out))

			jsonOut, _, _ := run(f, append([]string{"verify", "-o", "json"}, tt.args...)...)
			var report VerifyReport
			if err := json.Unmarshal([]byte(jsonOut), &report); err != nil {
				t.Fatalf("-o json printed %q: %v", jsonOut, err)
			}
			if report.Success != (tt.fails == "") || strings.Contains(jsonOut, keySentinel) {
				t.Errorf("-o json: success %v", report.Success)
			}
			if tt.name == "verify_other_anchor" {
				golden(t, tt.name+".json.golden", n.text(jsonOut))
			}
		})
	}
}

func TestVerifyBadInput(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--context is required"},
		{[]string{"--context", ""}, "--context is empty"},
		{[]string{"--context", "west", "-o", "yaml"}, `--output "yaml" is not a format of verify`},
		{[]string{"--context", "west", "--require-anchor", "nothere.pem"}, "--require-anchor: open nothere.pem"},
		{[]string{"--context", "west", "--require-issuer-anchor", "nothere.pem"}, "--require-issuer-anchor: open nothere.pem"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(federation(nil), append([]string{"verify"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q on failure", out)
			}
		})
	}
}
