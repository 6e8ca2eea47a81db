package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

// The tests in this file run against a real apiserver: real ServiceAccounts, real projected
// tokens from the TokenRequest API, real TokenReviews, a real Secret watched with the RBAC the
// identity service is given.
var apiserver struct {
	cluster *testenv.Cluster
	admin   kubernetes.Interface
	// service reaches the apiserver as the identity service: it may review tokens and read
	// its issuer Secret, nothing else.
	service kubernetes.Interface
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctx := context.Background()
	assets, err := testenv.Assets(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest assets:", err)
		return 1
	}
	c, err := testenv.StartCluster(assets, clientgoscheme.Scheme)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	apiserver.cluster = c
	if apiserver.admin, err = kubernetes.NewForConfig(c.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if apiserver.service, err = serviceClient(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// serviceClient gives a user the identity service's RBAC and returns a client as that user.
func serviceClient(ctx context.Context, c *testenv.Cluster) (kubernetes.Interface, error) {
	admin, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{"mesh-system", "shop"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "identity"}}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "identity"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}}},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "identity"}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "identity"},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := admin.RbacV1().Roles("mesh-system").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "identity"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
			ResourceNames: []string{"meshfed-identity-issuer"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := admin.RbacV1().RoleBindings("mesh-system").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "identity"}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "identity"},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	kubeconfig, err := c.Kubeconfig(envtest.User{Name: "identity"})
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func serviceAccount(t *testing.T, ns, name string) {
	t.Helper()
	_, err := apiserver.admin.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// token asks the TokenRequest API for a token of ns/sa, as the kubelet does for a projected
// volume.
func token(t *testing.T, ns, sa, audience string) []byte {
	t.Helper()
	tr, err := apiserver.admin.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(tr.Status.Token)
}

// expired returns tok with its times moved two hours back, signed again with the apiserver's
// own service-account key: a token the apiserver itself issued, expired an hour ago.
func expired(t *testing.T, tok []byte) []byte {
	t.Helper()
	parts := strings.Split(string(tok), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"exp", "iat", "nbf"} {
		if v, ok := claims[k].(float64); ok {
			claims[k] = v - 2*3600
		}
	}
	payload, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(apiserver.cluster.Env.ControlPlane.APIServer.CertDir, "sa-signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("sa-signer.key holds no PEM block")
	}
	signed := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("sa-signer.key: %v", err)
	}
	var sig []byte
	switch key := key.(type) {
	case *ecdsa.PrivateKey: // ES256: r and s, 32 bytes each
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case *rsa.PrivateKey: // RS256
		if sig, err = rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("sa-signer.key holds a %T; the test signs with ECDSA or RSA keys", key)
	}
	return []byte(signed + "." + base64.RawURLEncoding.EncodeToString(sig))
}

func TestCertifyWithTokenReview(t *testing.T) {
	p := newPKI(t, nil)
	issuers := NewIssuerStore(nil)
	if _, err := issuers.Load(p.secretData(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	serviceAccount(t, "shop", "web")
	serviceAccount(t, "shop", "db")
	web := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}
	client := serve(t, newServer(t, issuers, KubeTokenReviewer{Client: apiserver.service}), issuers, p.bundle())
	ctx := context.Background()

	leaf, err := identityclient.Request(ctx, client, web, token(t, "shop", "web", Audience))
	if err != nil {
		t.Fatalf("a pod's own token: %v", err)
	}
	if got, err := p.bundle().Verify(leaf.Certificate, leaf.Intermediates, time.Now()); err != nil || got != web {
		t.Fatalf("leaf verifies as %v, %v; want %s", got, err, web)
	}

	tests := []struct {
		name  string
		token []byte
		code  codes.Code
		msg   string
	}{
		{name: "another ServiceAccount's token", token: token(t, "shop", "db", Audience), code: codes.PermissionDenied, msg: "token proves"},
		{name: "token for another audience", token: token(t, "shop", "web", "api"), code: codes.Unauthenticated, msg: "refused"},
		{name: "expired token", token: expired(t, token(t, "shop", "web", Audience)), code: codes.Unauthenticated, msg: "expired"},
		{name: "not a token", token: []byte("not-a-token"), code: codes.Unauthenticated, msg: "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := identityclient.Request(ctx, client, web, tt.token)
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.msg) {
				t.Fatalf("Certify = %v; want code %s with %q", err, tt.code, tt.msg)
			}
		})
	}
}

// TestIssuerRenewedInSecret renews the issuer in its Secret while workloads keep asking:
// the service takes the new one with no request failed.
func TestIssuerRenewedInSecret(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := newPKI(t, nil)
	second := newPKI(t, first.anchor)
	secrets := apiserver.admin.CoreV1().Secrets("mesh-system")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "meshfed-identity-issuer"},
		Type:       corev1.SecretTypeTLS, Data: first.secretData(t),
	}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	issuers := NewIssuerStore(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := WatchIssuerSecret(wctx, log, apiserver.service, issuers, "mesh-system", "meshfed-identity-issuer"); err != nil {
		t.Fatal(err)
	}
	serviceAccount(t, "shop", "renew")
	id := trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "renew"}
	tok := token(t, "shop", "renew", Audience)
	client := serve(t, newServer(t, issuers, KubeTokenReviewer{Client: apiserver.service}), issuers, first.bundle())

	var asked, failed atomic.Int64
	var lastErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if _, err := identityclient.Request(ctx, client, id, tok); err != nil && ctx.Err() == nil {
				failed.Add(1)
				lastErr.Store(err)
			}
			asked.Add(1)
		}
	}()
	testenv.Eventually(t, 10*time.Second, "the first requests", func() error {
		if asked.Load() < 3 {
			return fmt.Errorf("%d asked", asked.Load())
		}
		return nil
	})
	secret.Data = second.secretData(t)
	if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the renewed issuer to be signing", func() error {
		leaf, err := identityclient.Request(ctx, client, id, tok)
		if err != nil {
			return err
		}
		if !leaf.Intermediates[0].Equal(second.issuer.Cert) {
			return fmt.Errorf("leaf still chains to %s", leaf.Intermediates[0].SerialNumber)
		}
		return nil
	})
	cancel()
	<-done
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across the renewal; last: %v", n, asked.Load(), lastErr.Load())
	}
	t.Logf("%d requests across the renewal, none failed", asked.Load())
}
