package meshcmd

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/certmanager"
)

// apiServer serves the issuer Secret and bundle ConfigMap of a cluster whose issuer is
// signed by anchor, and nothing else.
func apiServer(t *testing.T, cluster string, anchor *trust.CA) *httptest.Server {
	t.Helper()
	issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName(cluster), 24*time.Hour*30, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, err := certmanager.IssuerSecret(issuer, anchor.Cert)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := certmanager.BundleConfigMap(trust.NewBundle(anchor.Cert))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces/mesh-system/secrets/meshfed-identity-issuer":
			_ = json.NewEncoder(w).Encode(secret)
		case "/api/v1/namespaces/mesh-system/configmaps/meshfed-trust-bundle":
			_ = json.NewEncoder(w).Encode(cm)
		default:
			w.WriteHeader(http.StatusNotFound)
			st := apierrors.NewNotFound(corev1.Resource("unknown"), r.URL.Path).ErrStatus
			st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
			_ = json.NewEncoder(w).Encode(&st)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// verify's --context is its own and repeatable, shadowing the root's: cobra keeps a local
// flag over an inherited one of the same name. Each context reaches its own cluster
// through the kubeconfig of the root's --kubeconfig.
func TestTrustVerifyContexts(t *testing.T) {
	anchor, err := trust.NewAnchor("anchor", time.Hour*24*365, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "T"}
	for _, name := range []string{"west", "east"} {
		srv := apiServer(t, name, anchor)
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: "admin"}
	}
	cfg.Clusters["down"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.Contexts["down"] = &clientcmdapi.Context{Cluster: "down", AuthInfo: "admin"}
	cfg.CurrentContext = "down"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", "")
	if err := os.Unsetenv("KUBECONFIG"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args []string
		want []string
		fail bool
	}{
		{args: []string{"--kubeconfig", path, "trust", "verify", "--context", "west", "--context", "east"}, want: []string{"✓ east trusts the issuer of west", "✓ west trusts the issuer of east", "✓ all 8 checks passed"}},
		// Given before the command, --context is parsed by verify's flag set too: it
		// names one more cluster, not the current context of the others.
		{args: []string{"--kubeconfig", path, "--context", "west", "trust", "verify", "--context", "east"}, want: []string{"✓ east trusts the issuer of west", "✓ all 8 checks passed"}},
		{args: []string{"--kubeconfig", path, "trust", "verify", "--context", "west", "--context", "nowhere"}, want: []string{`context "nowhere" does not exist`}, fail: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Run(tt.args, strings.NewReader(""), &out, &errOut)
			if (err != nil) != tt.fail {
				t.Fatalf("error %v; stdout:\n%s\nstderr: %s", err, out.String(), errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not show %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestTrustHelp(t *testing.T) {
	for args, wants := range map[string][]string{
		"trust --help":               {"anchor", "cluster", "verify", "rotate-anchor", "<cluster>.meshfed.local"},
		"trust anchor --help":        {"--out", "--validity", "--force", "keep ca.key secret", "Examples:"},
		"trust cluster --help":       {"--anchor", "--cluster", "--cert-manager", "--cert-manager-namespace", "--issuer-validity", "--bundle", "Examples:"},
		"trust verify --help":        {"--context stringArray", "-o, --output", "--require-anchor", "Global Flags:", "--kubeconfig"},
		"trust rotate-anchor --help": {"--step", "1. --step bundle", "2. --step reissue", "3. --step drop", "cmctl renew", "Examples:"},
	} {
		var out, errOut bytes.Buffer
		if err := Run(strings.Fields(args), strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		for _, w := range wants {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s does not show %q", args, w)
			}
		}
		if args == "trust verify --help" && strings.Count(out.String(), "--context") != strings.Count(out.String(), "--context stringArray")+countInText(out.String()) {
			t.Errorf("%s shows the root's --context besides its own:\n%s", args, out.String())
		}
	}
}

// countInText counts the mentions of --context in the help's text and examples, which
// are not flags.
func countInText(help string) int {
	flagsAt := strings.Index(help, "Flags:")
	return strings.Count(help[:flagsAt], "--context")
}
