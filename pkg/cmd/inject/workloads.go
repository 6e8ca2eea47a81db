package inject

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/meshfed/meshfed/pkg/inject"
)

// templatePaths says where each kind with pods holds its pod template, by API group and
// kind; any version of the group has it at the same place.
func templatePath(apiVersion, kind string) ([]string, bool) {
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = "" // the core group: "v1"
	}
	switch group + "/" + kind {
	case "apps/Deployment", "apps/StatefulSet", "apps/DaemonSet", "apps/ReplicaSet", "batch/Job":
		return []string{"spec", "template"}, true
	case "batch/CronJob":
		return []string{"spec", "jobTemplate", "spec", "template"}, true
	case "/Pod":
		return nil, true // the pod is its own template: its metadata and spec
	}
	return nil, false
}

// outcome is what became of one object, for the line on stderr.
type outcome struct {
	injected bool
	why      string
}

func (o outcome) String() string {
	if o.injected {
		return "injected"
	}
	return "skipped: " + o.why
}

// injectObject injects obj's pod template in place, if it has one and may be injected.
func injectObject(cfg inject.Config, obj map[string]any) (outcome, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	path, ok := templatePath(apiVersion, kind)
	if !ok {
		return outcome{why: "a " + kind + " has no pod template"}, nil
	}
	raw, err := rawTemplate(obj, path)
	if err != nil {
		return outcome{}, err
	}
	var before corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &before); err != nil {
		return outcome{}, fmt.Errorf("the pod template at %s: %w", pathString(path), err)
	}
	// `mesh inject` means "inject these": opt in, unless the object opts out itself.
	asked := before.DeepCopy()
	if _, ok := asked.Annotations[inject.AnnotationInject]; !ok {
		if asked.Annotations == nil {
			asked.Annotations = map[string]string{}
		}
		asked.Annotations[inject.AnnotationInject] = inject.InjectEnabled
	}
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	namespace, _ := md["namespace"].(string)
	res, err := inject.Inject(cfg, inject.Request{Template: asked, Namespace: namespace, Workload: inject.Workload(kind, name)})
	if err != nil {
		return outcome{why: err.Error()}, nil
	}
	if res.Outcome != inject.Injected {
		return outcome{why: res.Reason}, nil
	}
	patched, err := applyTemplatePatch(raw, &before, res.Template)
	if err != nil {
		return outcome{}, err
	}
	if path == nil {
		obj["metadata"], obj["spec"] = patched["metadata"], patched["spec"]
	} else {
		setPath(obj, path, patched)
	}
	// What `kubectl get -o yaml` printed is older by the time it is applied (the controllers
	// write status meanwhile): with its resourceVersion, the apply would be refused as a
	// conflict. The injected object is meant to replace the workload's template, whatever
	// its status has become.
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "resourceVersion")
	}
	return outcome{injected: true}, nil
}

// rawTemplate returns the pod template at path in obj, as it came: for a Pod, its metadata
// and spec.
func rawTemplate(obj map[string]any, path []string) (map[string]any, error) {
	if path == nil {
		return map[string]any{"metadata": obj["metadata"], "spec": obj["spec"]}, nil
	}
	cur := obj
	for i, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no pod template: %s is not an object", pathString(path[:i+1]))
		}
		cur = next
	}
	return cur, nil
}

func setPath(obj map[string]any, path []string, v map[string]any) {
	cur := obj
	for _, p := range path[:len(path)-1] {
		cur = cur[p].(map[string]any)
	}
	cur[path[len(path)-1]] = v
}

func pathString(path []string) string { return "." + strings.Join(path, ".") }

// applyTemplatePatch makes, from what Inject changed between before and after, a strategic
// merge patch (containers and volumes merged by name, in the order after has them) and
// applies it to the template as it came, so that only what Inject added changes.
func applyTemplatePatch(raw map[string]any, before, after *corev1.PodTemplateSpec) (map[string]any, error) {
	b, err := json.Marshal(before)
	if err != nil {
		return nil, err
	}
	a, err := json.Marshal(after)
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(b, a, corev1.PodTemplateSpec{})
	if err != nil {
		return nil, fmt.Errorf("patching the pod template: %w", err)
	}
	r, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	out, err := strategicpatch.StrategicMergePatch(r, patch, corev1.PodTemplateSpec{})
	if err != nil {
		return nil, fmt.Errorf("patching the pod template: %w", err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(out, &m); err != nil {
		return nil, err
	}
	return m, nil
}
