package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
)

// maxReviewBytes bounds a request: a pod is at most about 1.5 MiB in etcd, and the review
// holds it once (no oldObject on CREATE).
const maxReviewBytes = 4 << 20

// NamespaceAnnotations finds a namespace's annotations; *Namespaces is the real one.
type NamespaceAnnotations interface {
	Annotations(ctx context.Context, name string) (map[string]string, error)
}

// Options make a Handler.
type Options struct {
	// Config is the injection's, but for its TrustBundle: Bundle has the current one.
	Config     inject.Config
	Bundle     *trustwatch.BundleStore
	Namespaces NamespaceAnnotations
	Metrics    *Metrics
	Log        *slog.Logger
}

// Handler serves AdmissionReviews of pods being created.
type Handler struct {
	o Options
}

// NewHandler returns the handler.
func NewHandler(o Options) *Handler { return &Handler{o: o} }

var _ http.Handler = (*Handler)(nil)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		h.o.Metrics.count(ResultError)
		http.Error(w, "reading the review: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		h.o.Metrics.count(ResultError)
		http.Error(w, fmt.Sprintf("not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	resp := h.Review(r.Context(), review.Request)
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// Review answers one admission request: always allowed, with a patch when the pod gets the
// proxy, with a warning when it asked for it and did not get it.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	podKind := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	if req.Kind != podKind || req.Operation != admissionv1.Create || req.SubResource != "" {
		h.o.Metrics.count(ResultIgnored)
		return resp
	}
	log := h.o.Log.With("namespace", req.Namespace, "uid", string(req.UID))
	warn := func(result, msg string, args ...any) *admissionv1.AdmissionResponse {
		h.o.Metrics.count(result)
		log.Warn(msg, args...)
		resp.Warnings = append(resp.Warnings, "meshfed injector: pod not injected: "+msg)
		return resp
	}

	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return warn(ResultError, fmt.Sprintf("cannot read the pod: %v", err))
	}
	log = log.With("pod", podName(&pod))
	nsAnn, err := h.o.Namespaces.Annotations(ctx, req.Namespace)
	if err != nil {
		// The pod may still opt in itself; one that relies on its namespace is told.
		log.Warn("namespace not read: injecting only pods that opt in themselves", "error", err)
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("meshfed injector: namespace %s not read (%v): only the pod's own %s counts", req.Namespace, err, inject.AnnotationInject))
	}
	cfg := h.o.Config
	cfg.TrustBundle = h.o.Bundle.Get()
	workload := inject.WorkloadOfPod(pod.ObjectMeta)
	res, err := inject.Inject(cfg, inject.Request{
		Template:             &corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
		Namespace:            req.Namespace,
		NamespaceAnnotations: nsAnn,
		Workload:             workload,
	})
	switch {
	case err != nil:
		return warn(ResultInvalid, err.Error(), "workload", workload)
	case res.Outcome != inject.Injected && res.Asked():
		return warn(string(res.Outcome), res.Reason, "workload", workload)
	case res.Outcome != inject.Injected:
		h.o.Metrics.count(string(res.Outcome))
		log.Debug("not injected", "outcome", res.Outcome, "reason", res.Reason)
		return resp
	case cfg.TrustBundle == "":
		return warn(ResultNoBundle, fmt.Sprintf("the injector has not read the trust bundle (ConfigMap %s/%s) yet: create the pod again once it is ready", trust.Namespace, trust.BundleConfigMapName))
	}

	after := pod.DeepCopy()
	after.ObjectMeta, after.Spec = res.Template.ObjectMeta, res.Template.Spec
	patch, err := podPatch(&pod, after)
	if err == nil {
		resp.Patch, err = json.Marshal(patch)
	}
	if err != nil {
		return warn(ResultError, fmt.Sprintf("cannot patch the pod: %v", err))
	}
	resp.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
	h.o.Metrics.count(string(inject.Injected))
	log.Info("injected", "workload", workload, "nativeSidecar", cfg.NativeSidecars)
	return resp
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName + "*"
}

// escape makes a map key a JSON Pointer token (RFC 6901): meshfed.io/inject is
// meshfed.io~1inject.
func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// podPatch is the JSONPatch from before to after, which differ by what inject adds: entries
// of the annotations, and containers and volumes inserted into their lists. It inserts each
// such element where it goes rather than diffing the lists index by index, so the pod's own
// elements are never rewritten: fields of theirs this build's API types do not know (a newer
// apiserver's) are left as they are.
func podPatch(before, after *corev1.Pod) ([]jsonpatch.Operation, error) {
	var ops []jsonpatch.Operation
	switch {
	case before.Annotations == nil && after.Annotations != nil:
		ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations", after.Annotations))
	default:
		for _, k := range slices.Sorted(maps.Keys(after.Annotations)) {
			if v, ok := before.Annotations[k]; !ok || v != after.Annotations[k] {
				ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations/"+escape(k), after.Annotations[k]))
			}
		}
	}
	for _, l := range []struct {
		path          string
		before, after []named
	}{
		{"/spec/initContainers", containers(before.Spec.InitContainers), containers(after.Spec.InitContainers)},
		{"/spec/containers", containers(before.Spec.Containers), containers(after.Spec.Containers)},
		{"/spec/volumes", volumes(before.Spec.Volumes), volumes(after.Spec.Volumes)},
	} {
		more, err := insertions(l.path, l.before, l.after)
		if err != nil {
			return nil, err
		}
		ops = append(ops, more...)
	}
	return ops, nil
}

// named is an element of a list merged by name: a container or a volume.
type named struct {
	name  string
	value any
}

func containers(cs []corev1.Container) []named {
	out := make([]named, len(cs))
	for i := range cs {
		out[i] = named{cs[i].Name, cs[i]}
	}
	return out
}

func volumes(vs []corev1.Volume) []named {
	out := make([]named, len(vs))
	for i := range vs {
		out[i] = named{vs[i].Name, vs[i]}
	}
	return out
}

// insertions are the operations that make the list before into after, which must hold
// before's elements in the same order with others between them.
func insertions(path string, before, after []named) ([]jsonpatch.Operation, error) {
	if len(before) == len(after) {
		return nil, nil
	}
	if len(before) == 0 {
		values := make([]any, len(after))
		for i, e := range after {
			values[i] = e.value
		}
		return []jsonpatch.Operation{jsonpatch.NewOperation("add", path, values)}, nil
	}
	var ops []jsonpatch.Operation
	j := 0
	for i, e := range after {
		if j < len(before) && before[j].name == e.name {
			j++
			continue
		}
		// Operations apply in order, so index i is where e ends up.
		ops = append(ops, jsonpatch.NewOperation("add", fmt.Sprintf("%s/%d", path, i), e.value))
	}
	if j != len(before) {
		return nil, fmt.Errorf("%s: the injected list does not keep the pod's own elements in order", path)
	}
	return ops, nil
}
