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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestHelpTeaches(t *testing.T) {
	for args, wants := range map[string][]string{
		"--help":                    {"--kubeconfig", "--context", "mesh multicluster install --cluster-name west | kubectl --context west apply -f -"},
		"multicluster --help":       {"install", "link", "unlink", "check"},
		"multicluster link --help":  {"--cluster-name", "--gateway-addresses", "--api-server-address", "Examples:", "kubectl --context west apply -f -"},
		"multicluster check --help": {"-o, --output", "--wait", "read-only"},
		"inject --help":             {"--bundle", "--native-sidecar", "--cluster-name", "mesh inject - --cluster-name west | kubectl apply -f -"},
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
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	for args, want := range map[string]string{
		// Without --cluster-name link reads the name from the cluster: a bad one fails first.
		"multicluster link --cluster-name East":                   `ERROR: --cluster-name "East" is not a DNS label`,
		"multicluster instal":                                     `ERROR: unknown command "instal" for "mesh multicluster"; did you mean install?`,
		"--kubeconfig /nonexistent/kubeconfig multicluster check": "ERROR: kubeconfig: stat /nonexistent/kubeconfig: no such file or directory",
	} {
		var out, errOut bytes.Buffer
		if err := Run(strings.Fields(args), strings.NewReader(""), &out, &errOut); err == nil {
			t.Errorf("%s: no error", args)
		}
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("%s: printed %q, want %q", args, errOut.String(), want)
		}
	}
}

// --kubeconfig and --context reach the cluster they name through real client-go: link run
// against a fake API server prints the remote reader's token, not the caller's.
func TestKubeconfigAndContext(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer ADMIN-TOKEN" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/v1/namespaces/mesh-multicluster/secrets/remote-reader-token":
			_ = json.NewEncoder(w).Encode(&corev1.Secret{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: "remote-reader-token", Namespace: "mesh-multicluster", Annotations: map[string]string{corev1.ServiceAccountNameKey: "remote-reader"}},
				Type:       corev1.SecretTypeServiceAccountToken,
				Data:       map[string][]byte{"token": []byte("READER-TOKEN"), "ca.crt": []byte("CA")},
			})
		default:
			w.WriteHeader(http.StatusNotFound)
			st := apierrors.NewNotFound(corev1.Resource("services"), "mesh-gateway").ErrStatus
			st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
			_ = json.NewEncoder(w).Encode(&st)
		}
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["east"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	cfg.Clusters["west"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "ADMIN-TOKEN"}
	cfg.Contexts["east"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "admin"}
	cfg.Contexts["west"] = &clientcmdapi.Context{Cluster: "west", AuthInfo: "admin"}
	cfg.CurrentContext = "west"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", "")
	if err := os.Unsetenv("KUBECONFIG"); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	args := []string{"--kubeconfig", path, "--context", "east", "multicluster", "link", "--cluster-name", "east", "--gateway-addresses", "198.18.0.100", "--api-server-address", "https://198.18.0.2:6443"}
	if err := Run(args, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("%v; stderr %q", err, errOut.String())
	}
	if !strings.Contains(out.String(), "token: READER-TOKEN") || strings.Contains(out.String(), "ADMIN") {
		t.Errorf("printed %s\nwant the reader's token and none of the caller's", out.String())
	}

	out.Reset()
	errOut.Reset()
	args = []string{"--kubeconfig", path, "--context", "east", "multicluster", "link", "--cluster-name", "east"}
	if err := Run(args, strings.NewReader(""), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "pass --gateway-addresses") {
		t.Errorf("without a gateway: %v %q, want a hint to pass --gateway-addresses", err, errOut.String())
	}
}
