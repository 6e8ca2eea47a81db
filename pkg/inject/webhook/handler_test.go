package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
)

// fakeNamespaces holds namespaces' annotations; a namespace it lacks is not found.
type fakeNamespaces map[string]map[string]string

func (f fakeNamespaces) Annotations(_ context.Context, name string) (map[string]string, error) {
	a, ok := f[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	return a, nil
}

func testConfig(t testing.TB, native bool) inject.Config {
	t.Helper()
	bundle, err := os.ReadFile("../testdata/bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	return inject.Config{
		ProxyImage: "ghcr.io/meshfed/proxy:dev", TrustDomain: "west.meshfed.local", TrustBundle: string(bundle),
		NativeSidecars: native, Version: "dev", ProxyResources: inject.DefaultProxyResources(), LogLevel: inject.DefaultLogLevel,
	}
}

type server struct {
	url     string
	metrics *prometheus.CounterVec
	cfg     inject.Config
}

// serve runs the handler over HTTP with namespaces shop (opted in) and plain, and the
// config's bundle unless noBundle.
func serve(t *testing.T, native, noBundle bool) *server {
	cfg := testConfig(t, native)
	bundle := trustwatch.NewBundleStore(nil)
	if !noBundle {
		if _, err := bundle.Load(map[string]string{"ca-bundle.crt": cfg.TrustBundle}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	static := cfg
	static.TrustBundle = ""
	h := NewHandler(Options{
		Config: static, Bundle: bundle, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Namespaces: fakeNamespaces{"shop": {inject.AnnotationInject: inject.InjectEnabled}, "plain": nil},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, metrics: m.injections, cfg: cfg}
}

// review posts an AdmissionReview of raw, a pod being created in namespace, and returns the
// response.
func (s *server) review(t *testing.T, namespace string, raw []byte, mods ...func(*admissionv1.AdmissionRequest)) *admissionv1.AdmissionResponse {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("7d1f3c2e-0000-4000-8000-000000000001"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace, Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: raw},
	}
	for _, m := range mods {
		m(req)
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.Post(s.url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("status %s: %s", r.Status, b)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("answer is not an AdmissionReview with a response: %+v", out)
	}
	if out.Response.UID != req.UID || !out.Response.Allowed {
		t.Fatalf("response uid %q allowed %v: the webhook must echo the uid and never refuse", out.Response.UID, out.Response.Allowed)
	}
	return out.Response
}

// pod is a Deployment's pod as the apiserver hands it to the webhook: no name yet.
func pod(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "web-5d8f7c-",
			Labels:       map[string]string{"app": "web", "pod-template-hash": "5d8f7c"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f7c", UID: "1", Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "web",
			Containers:         []corev1.Container{{Name: "web", Image: "ghcr.io/example/web:1.0"}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func annotate(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// applyPatch applies a response's JSONPatch to raw, as the apiserver does.
func applyPatch(t *testing.T, raw []byte, resp *admissionv1.AdmissionResponse) []byte {
	t.Helper()
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v, want JSONPatch", resp.PatchType)
	}
	p, err := jsonpatchapply.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("the patch does not apply: %v\n%s", err, resp.Patch)
	}
	return out
}

// The patch, applied to the pod, makes the pod inject.Inject makes.
func TestPatchMakesTheInjectedPod(t *testing.T) {
	withInit := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "busybox"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	tests := []struct {
		name      string
		native    bool
		namespace string
		pod       *corev1.Pod
	}{
		{"native, opted in by the pod", true, "plain", pod(annotate(inject.AnnotationInject, inject.InjectEnabled))},
		{"native, opted in by the namespace", true, "shop", pod()},
		{"native, with init containers and volumes", true, "shop", pod(withInit, annotate("team", "payments"))},
		{"classic", false, "shop", pod()},
		{"classic, with init containers and volumes", false, "shop", pod(withInit)},
		{"annotation keys with a slash and a tilde", true, "shop", pod(annotate("example.com/a~b", "1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(t, tt.native, false)
			raw := mustJSON(t, tt.pod)
			resp := s.review(t, tt.namespace, raw)
			if len(resp.Warnings) > 0 {
				t.Errorf("warnings %q", resp.Warnings)
			}
			var got corev1.Pod
			if err := json.Unmarshal(applyPatch(t, raw, resp), &got); err != nil {
				t.Fatal(err)
			}
			res, err := inject.Inject(s.cfg, inject.Request{
				Template:  &corev1.PodTemplateSpec{ObjectMeta: tt.pod.ObjectMeta, Spec: tt.pod.Spec},
				Namespace: tt.namespace, NamespaceAnnotations: map[string]string{inject.AnnotationInject: inject.InjectEnabled},
				Workload: "deployment/web",
			})
			if err != nil || res.Outcome != inject.Injected {
				t.Fatalf("inject: %v %s", err, res.Outcome)
			}
			want := tt.pod.DeepCopy()
			want.ObjectMeta, want.Spec = res.Template.ObjectMeta, res.Template.Spec
			if !apiequality.Semantic.DeepEqual(&got, want) {
				t.Errorf("patched pod differs from inject's:\n got %s\nwant %s", mustJSON(t, &got), mustJSON(t, want))
			}
			if v := testutil.ToFloat64(s.metrics.WithLabelValues("injected")); v != 1 {
				t.Errorf("injected counter %v, want 1", v)
			}
		})
	}
}

// The pod's own containers are not rewritten: a field this build does not know stays.
func TestPatchLeavesThePodsFieldsAlone(t *testing.T) {
	for _, native := range []bool{true, false} {
		s := serve(t, native, false)
		raw := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"meshfed.io/inject":"enabled"}},` +
			`"spec":{"containers":[{"name":"app","image":"busybox","futureField":{"x":1}}],"futurePodField":true}}`)
		patched := applyPatch(t, raw, s.review(t, "plain", raw))
		var m map[string]any
		if err := json.Unmarshal(patched, &m); err != nil {
			t.Fatal(err)
		}
		spec := m["spec"].(map[string]any)
		var app map[string]any
		for _, c := range spec["containers"].([]any) {
			if c := c.(map[string]any); c["name"] == "app" {
				app = c
			}
		}
		if app == nil || app["futureField"] == nil || spec["futurePodField"] != true {
			t.Errorf("native %v: the pod's own fields were dropped: %s", native, patched)
		}
	}
}

func TestPodsLeftAlone(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		noBundle  bool
		pod       *corev1.Pod
		mod       func(*admissionv1.AdmissionRequest)
		result    string
		warning   string
	}{
		{name: "not enabled", namespace: "plain", pod: pod(), result: "not-enabled"},
		{name: "namespace unknown", namespace: "new", pod: pod(), result: "not-enabled", warning: "namespace new not read"},
		{name: "disabled", namespace: "shop", pod: pod(annotate(inject.AnnotationInject, inject.InjectDisabled)), result: "disabled"},
		{name: "already injected", namespace: "shop", pod: pod(annotate(inject.AnnotationInjected, "dev")), result: "already-injected"},
		{name: "host network", namespace: "shop", pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), result: "host-network",
			warning: "meshfed injector: pod not injected: the pod uses the node's network"},
		{name: "port conflict", namespace: "shop", pod: pod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 4191}} }),
			result: "port-conflict", warning: "container web declares port 4191"},
		{name: "bad annotation", namespace: "shop", pod: pod(annotate(inject.AnnotationProxyLogLevel, "loud")), result: "invalid",
			warning: `meshfed injector: pod not injected: annotation meshfed.io/proxy-log-level: "loud"; it takes one of debug, info, warn, error`},
		{name: "no bundle yet", namespace: "shop", noBundle: true, pod: pod(), result: "no-bundle",
			warning: "the injector has not read the trust bundle (ConfigMap mesh-system/meshfed-trust-bundle) yet"},
		{name: "no bundle, not asked", namespace: "plain", noBundle: true, pod: pod(), result: "not-enabled"},
		{name: "update", namespace: "shop", pod: pod(), result: "ignored", mod: func(r *admissionv1.AdmissionRequest) { r.Operation = admissionv1.Update }},
		{name: "not a pod", namespace: "shop", pod: pod(), result: "ignored", mod: func(r *admissionv1.AdmissionRequest) {
			r.Kind = metav1.GroupVersionKind{Version: "v1", Kind: "Service"}
		}},
		{name: "a pod's subresource", namespace: "shop", pod: pod(), result: "ignored", mod: func(r *admissionv1.AdmissionRequest) { r.SubResource = "binding" }},
		{name: "not JSON", namespace: "shop", result: "error", warning: "cannot read the pod", mod: func(r *admissionv1.AdmissionRequest) {
			r.Object.Raw = []byte(`{"spec": 3}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(t, true, tt.noBundle)
			var mods []func(*admissionv1.AdmissionRequest)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			resp := s.review(t, tt.namespace, mustJSON(t, tt.pod), mods...)
			if resp.Patch != nil || resp.PatchType != nil {
				t.Errorf("patched: %s", resp.Patch)
			}
			joined := strings.Join(resp.Warnings, "\n")
			if tt.warning == "" && joined != "" || !strings.Contains(joined, tt.warning) {
				t.Errorf("warnings %q, want %q", joined, tt.warning)
			}
			if v := testutil.ToFloat64(s.metrics.WithLabelValues(tt.result)); v != 1 {
				t.Errorf("%s counter %v, want 1", tt.result, v)
			}
		})
	}
}

func TestBadHTTPRequests(t *testing.T) {
	s := serve(t, true, false)
	tests := []struct {
		name, method, contentType, body string
		status                          int
	}{
		{"GET", http.MethodGet, "application/json", "", http.StatusMethodNotAllowed},
		{"YAML", http.MethodPost, "application/yaml", "{}", http.StatusUnsupportedMediaType},
		{"not JSON", http.MethodPost, "application/json", "{", http.StatusBadRequest},
		{"no request", http.MethodPost, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"too large", http.MethodPost, "application/json", `{"x":"` + strings.Repeat("a", maxReviewBytes) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != tt.status {
				t.Errorf("status %d, want %d", r.StatusCode, tt.status)
			}
		})
	}
}

func TestInsertionsRefuseReordering(t *testing.T) {
	before := []named{{"a", 1}, {"b", 2}}
	after := []named{{"b", 2}, {"x", 3}, {"a", 1}}
	if _, err := insertions("/spec/containers", before, after); err == nil || !strings.Contains(err.Error(), "does not keep the pod's own elements in order") {
		t.Errorf("error %v", err)
	}
}
