package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
)

// warnings collects the warnings the apiserver sends a client.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.Join(w.msgs, "\n")
	w.msgs = nil
	return s
}

// injectorManifest is deploy/charts/meshfed/templates/injector.yaml as `mesh install` renders it.
func injectorManifest(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	ms, err := deploy.ControlPlane(deploy.ControlPlaneValues{Registry: "ghcr.io/meshfed", Version: "dev", TrustDomain: "west.meshfed.local"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Path == "charts/meshfed/templates/injector.yaml" {
			docs, err := cmdutil.DecodeDocuments(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			return docs
		}
	}
	t.Fatal("no charts/meshfed/templates/injector.yaml")
	return nil
}

// The webhook registered with its own MutatingWebhookConfiguration in a real apiserver, run
// with the RBAC of its manifest: the apiserver calls it, applies its patch and validates the
// pod that results, in both modes; pods it must leave alone are created unchanged, with the
// warning it gives.
func TestWebhookInAnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	assets, err := testenv.Assets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	docs := injectorManifest(t)
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	var rbac []*unstructured.Unstructured
	for _, d := range docs {
		switch d.GetKind() {
		case "MutatingWebhookConfiguration":
			b, _ := d.MarshalJSON()
			if err := yaml.Unmarshal(b, &mwc); err != nil {
				t.Fatal(err)
			}
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			rbac = append(rbac, d)
		}
	}
	env := testenv.New(assets)
	env.WebhookInstallOptions = envtest.WebhookInstallOptions{MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{&mwc}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	admin, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	pemBytes, err := os.ReadFile("../testdata/bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	dir := env.WebhookInstallOptions.LocalServingCertDir
	crt, err1 := os.ReadFile(filepath.Join(dir, "tls.crt"))
	key, err2 := os.ReadFile(filepath.Join(dir, "tls.key"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: trust.Namespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{inject.AnnotationInject: inject.InjectEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: trust.BundleConfigMapName, Namespace: trust.Namespace}, Data: map[string]string{trust.BundleKey: string(pemBytes)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CertSecretName, Namespace: trust.Namespace}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": crt, "tls.key": key}},
		// Something the injector may not read, to be sure it does not need to.
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: trust.Namespace}},
	} {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for _, obj := range rbac {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}

	// The injector, as its ServiceAccount, with what its manifest grants and nothing more.
	user, err := env.AddUser(envtest.User{Name: "system:serviceaccount:mesh-system:meshfed-injector", Groups: []string{"system:serviceaccounts"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	injCfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	injKube := kubernetes.NewForConfigOrDie(injCfg)
	if _, err := injKube.CoreV1().Secrets(trust.Namespace).Get(ctx, "other", metav1.GetOptions{}); err == nil {
		t.Error("the injector's RBAC lets it read any Secret of mesh-system")
	}
	v, err := injKube.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if native, err := NativeSidecarsSupported(v); err != nil || !native {
		t.Errorf("apiserver %s: native sidecars %v %v, want true", v.GitVersion, native, err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	certs, bundle := &CertStore{}, trustwatch.NewBundleStore(nil)
	if err := WatchCertSecret(ctx, log, injKube, certs, trust.Namespace, CertSecretName); err != nil {
		t.Fatal(err)
	}
	if err := trustwatch.WatchBundle(ctx, log, injKube, bundle, trust.Namespace, trust.BundleConfigMapName); err != nil {
		t.Fatal(err)
	}
	namespaces, synced := NewNamespaces(ctx, injKube)
	testenv.Eventually(t, 30*time.Second, "the injector reads its certificate, the bundle and the namespaces", func() error {
		if !certs.Loaded() || bundle.Get() == "" || !synced() {
			return fmt.Errorf("certificate %v, bundle %v, namespaces %v", certs.Loaded(), bundle.Get() != "", synced())
		}
		return nil
	})
	config := testConfig(t, true)
	config.TrustBundle = ""
	native := NewHandler(Options{Config: config, Bundle: bundle, Namespaces: namespaces, Log: log})
	config.NativeSidecars = false
	classic := NewHandler(Options{Config: config, Bundle: bundle, Namespaces: namespaces, Log: log})
	var useClassic atomic.Bool
	lis, err := net.Listen("tcp", net.JoinHostPort(env.WebhookInstallOptions.LocalServingHost, fmt.Sprint(env.WebhookInstallOptions.LocalServingPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Any path: envtest writes the webhook's URL with a doubled slash.
		if useClassic.Load() {
			classic.ServeHTTP(w, r)
			return
		}
		native.ServeHTTP(w, r)
	})}
	go srv.Serve(tls.NewListener(lis, certs.TLSConfig()))
	defer srv.Close()

	warned := &warnings{}
	userCfg := rest.CopyConfig(cfg)
	userCfg.WarningHandler = warned
	kube := kubernetes.NewForConfigOrDie(userCfg)

	names := func(cs []corev1.Container) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name       string
		namespace  string
		classic    bool
		pod        *corev1.Pod
		init, main string
		warning    string
	}{
		{name: "native, by namespace", namespace: "shop", pod: pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "busybox"}}
		}), init: "meshfed-init meshfed-proxy migrate", main: "web"},
		{name: "classic, by the pod", namespace: "plain", classic: true, pod: pod(annotate(inject.AnnotationInject, inject.InjectEnabled)),
			init: "meshfed-init", main: "meshfed-proxy web"},
		{name: "tuned", namespace: "shop", pod: pod(annotate(inject.AnnotationSkipOutboundCIDRs, "198.18.0.0/15", inject.AnnotationProxyMemoryLimit, "1Gi")),
			init: "meshfed-init meshfed-proxy", main: "web"},
		{name: "not asked", namespace: "plain", pod: pod(), main: "web"},
		{name: "bad annotation", namespace: "shop", pod: pod(annotate(inject.AnnotationProxyLogLevel, "loud")), main: "web",
			warning: `meshfed injector: pod not injected: annotation meshfed.io/proxy-log-level: "loud"; it takes one of debug, info, warn, error`},
		{name: "host network", namespace: "shop", pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), main: "web",
			warning: "meshfed injector: pod not injected: the pod uses the node's network"},
		{name: "the control plane's namespace", namespace: trust.Namespace, pod: pod(annotate(inject.AnnotationInject, inject.InjectEnabled)), main: "web"},
		{name: "the control plane's pods", namespace: "shop", pod: pod(func(p *corev1.Pod) { p.Labels[trust.PartOfLabel] = trust.PartOfValue }), main: "web"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			useClassic.Store(tt.classic)
			p := tt.pod.DeepCopy()
			p.GenerateName, p.Name = "", fmt.Sprintf("web-%d", i)
			created, err := kube.CoreV1().Pods(tt.namespace).Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("the apiserver refused the pod: %v", err)
			}
			if got := names(created.Spec.InitContainers); got != tt.init {
				t.Errorf("init containers %q, want %q", got, tt.init)
			}
			if got := names(created.Spec.Containers); got != tt.main {
				t.Errorf("containers %q, want %q", got, tt.main)
			}
			_, injected := created.Annotations[inject.AnnotationInjected]
			if injected != (tt.init != "") {
				t.Errorf("annotations %v", created.Annotations)
			}
			if got := warned.take(); !strings.Contains(got, tt.warning) || tt.warning == "" && got != "" {
				t.Errorf("warnings %q, want %q", got, tt.warning)
			}
			if injected {
				i := slices.IndexFunc(append(created.Spec.InitContainers, created.Spec.Containers...), func(c corev1.Container) bool { return c.Name == inject.ProxyContainerName })
				proxy := append(created.Spec.InitContainers, created.Spec.Containers...)[i]
				if env := proxy.Env[3]; env.Name != inject.EnvWorkload || env.Value != "deployment/web" {
					t.Errorf("workload env %v", env)
				}
			}
		})
	}

	// The ConfigMap changes, a second anchor trusted beside the first: the next pod gets both.
	anchor, err := trust.NewAnchor("second anchor", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second := string(pemBytes) + string(anchor.CertPEM())
	if err := admin.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: trust.BundleConfigMapName, Namespace: trust.Namespace}, Data: map[string]string{trust.BundleKey: second}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the injector takes the new bundle", func() error {
		if bundle.Get() != second {
			return errors.New("old bundle")
		}
		return nil
	})
	useClassic.Store(false)
	created, err := kube.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "after-rotation"}, Spec: pod().Spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := created.Spec.InitContainers[1].Env[5]; env.Name != inject.EnvTrustBundle || env.Value != second {
		t.Errorf("after the bundle changed, the pod got %s=%q", env.Name, env.Value)
	}
}
