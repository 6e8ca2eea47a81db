package webhook

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/pkg/trust"
)

// The manifest `mesh install` prints names what this package serves and reads.
func TestManifestMatchesTheWebhook(t *testing.T) {
	byKind := map[string]*unstructured.Unstructured{}
	for _, d := range injectorManifest(t) {
		if d.GetKind() == "Certificate" && d.GetName() != Name {
			continue // the CA's
		}
		if d.GetKind() == "Issuer" {
			continue
		}
		byKind[d.GetKind()] = d
	}
	str := func(kind string, path ...string) string {
		v, _, _ := unstructured.NestedFieldNoCopy(byKind[kind].Object, path...)
		return fmt.Sprint(v)
	}
	hook := func(path ...string) string {
		hooks, _, _ := unstructured.NestedSlice(byKind["MutatingWebhookConfiguration"].Object, "webhooks")
		v, _, _ := unstructured.NestedFieldNoCopy(hooks[0].(map[string]any), path...)
		return fmt.Sprint(v)
	}
	container := func(path ...string) string {
		cs, _, _ := unstructured.NestedSlice(byKind["Deployment"].Object, "spec", "template", "spec", "containers")
		v, _, _ := unstructured.NestedFieldNoCopy(cs[0].(map[string]any), path...)
		return fmt.Sprint(v)
	}
	checks := []struct{ what, got, want string }{
		{"Certificate secretName", str("Certificate", "spec", "secretName"), CertSecretName},
		{"Certificate DNS name", str("Certificate", "spec", "dnsNames"), "[" + Name + "." + trust.Namespace + ".svc " + Name + "." + trust.Namespace + ".svc.cluster.local]"},
		{"caBundle from", str("MutatingWebhookConfiguration", "metadata", "annotations", "cert-manager.io/inject-ca-from"), trust.Namespace + "/" + Name},
		{"webhook service", hook("clientConfig", "service", "name"), Name},
		{"webhook path", hook("clientConfig", "service", "path"), Path},
		{"webhook port", hook("clientConfig", "service", "port"), "443"},
		{"failurePolicy", hook("failurePolicy"), "Ignore"},
		{"sideEffects", hook("sideEffects"), "None"},
		{"timeoutSeconds", hook("timeoutSeconds"), "5"},
		{"excluded namespaces", hook("namespaceSelector", "matchExpressions"), "[map[key:kubernetes.io/metadata.name operator:NotIn values:[kube-system mesh-system]]]"},
		{"excluded pods", hook("objectSelector", "matchExpressions"), "[map[key:" + trust.PartOfLabel + " operator:NotIn values:[" + trust.PartOfValue + "]]]"},
		{"rules", hook("rules"), "[map[apiGroups:[] apiVersions:[v1] operations:[CREATE] resources:[pods] scope:Namespaced]]"},
		{"Service port", str("Service", "spec", "ports"), "[map[name:webhook port:443 targetPort:webhook]]"},
		{"container ports", container("ports"), fmt.Sprintf("[map[containerPort:%d name:webhook] map[containerPort:9990 name:admin]]", Port)},
		{"container args", container("args"), "[injector --trust-domain=west.meshfed.local --proxy-image=ghcr.io/meshfed/proxy:dev --addr=:8443 --admin-addr=:9990]"},
		{"Role", str("Role", "rules"), "[map[apiGroups:[] resourceNames:[" + trust.BundleConfigMapName + "] resources:[configmaps] verbs:[get list watch]] map[apiGroups:[] resourceNames:[" + CertSecretName + "] resources:[secrets] verbs:[get list watch]]]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	if sa := byKind["ServiceAccount"].GetName(); sa != Name {
		t.Errorf("ServiceAccount %s, want %s", sa, Name)
	}
}
