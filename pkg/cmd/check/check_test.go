package check

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/healthcheck"
	"github.com/meshfed/meshfed/pkg/trust"
)

// factory hands out the fake clients of one cluster.
type factory struct{ c *cmdutil.Clients }

func (f factory) RESTConfig() (*rest.Config, error)                 { return &rest.Config{Host: f.c.Host}, nil }
func (f factory) ClientsFor(*rest.Config) (*cmdutil.Clients, error) { return f.c, nil }

// cluster is a fake cluster holding what `mesh install` and `mesh trust cluster` make, all
// well, with the issuer made at now.
type cluster struct {
	objs   []runtime.Object
	crds   []runtime.Object
	minor  string
	anchor *trust.CA
	issuer *trust.CA
	bundle *trust.Bundle
	// webhookDown makes the apiserver return pods as it does when it cannot reach the
	// webhook (failurePolicy Ignore): unchanged.
	webhookDown bool
}

func healthy(t *testing.T, now time.Time) *cluster {
	t.Helper()
	anchor, err := trust.NewAnchor("test", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := trust.NewIssuer(anchor, "identity.west.meshfed", 12*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{minor: "35", anchor: anchor, issuer: issuer, bundle: trust.NewBundle(anchor.Cert)}
	in, err := whatInstallMakes()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range in.crds {
		c.crds = append(c.crds, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": name},
			"status":   map[string]any{"conditions": []any{map[string]any{"type": "Established", "status": "True"}}},
		}})
	}
	for _, d := range in.deployments {
		c.objs = append(c.objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.GetName(), Namespace: d.GetNamespace()},
			Status: appsv1.DeploymentStatus{AvailableReplicas: 1, Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}},
		})
	}
	for _, w := range in.webhooks {
		c.objs = append(c.objs, &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: w.GetName()},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "injector.meshfed.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte("ca")}}},
		}, &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "meshfed-injector-x", Namespace: trust.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: "meshfed-injector"}},
			Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"198.18.128.10"}}},
		})
	}
	c.objs = append(c.objs,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: trust.BundleConfigMapName, Namespace: trust.Namespace},
			Data: map[string]string{trust.BundleKey: string(c.bundle.PEM())}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: trust.IssuerSecretName, Namespace: trust.Namespace},
			Data: map[string][]byte{"tls.crt": issuer.CertPEM(), "ca.crt": trust.EncodeCertificates(anchor.Cert)}},
	)
	return c
}

func (c *cluster) clients() *cmdutil.Clients {
	kube := kubefake.NewClientset(c.objs...)
	kube.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{Major: "1", Minor: c.minor}
	// The apiserver calls the webhook for a pod created with dry run, and stores nothing.
	kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		create := a.(k8stesting.CreateActionImpl)
		pod := create.GetObject().(*corev1.Pod).DeepCopy()
		if !slices.Contains(create.GetCreateOptions().DryRun, metav1.DryRunAll) {
			return false, nil, nil
		}
		if !c.webhookDown {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: ProxyContainer})
		}
		return true, pod, nil
	})
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "CustomResourceDefinitionList"}, c.crds...)
	return &cmdutil.Clients{Kube: kube, Dynamic: dyn, Host: "https://198.18.0.11:6443"}
}

func run(t *testing.T, c *cluster, now time.Time, args ...string) (healthcheck.Report, string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newCmdCheck(factory{c.clients()}, cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}, func() time.Time { return now })
	cmd.SetArgs(append(args, "-o", "json"))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	var report healthcheck.Report
	if jerr := json.Unmarshal(out.Bytes(), &report); jerr != nil {
		t.Fatalf("check -o json printed %q: %v", out.String(), jerr)
	}
	return report, out.String(), err
}

// failed returns the failed checks' descriptions and hints.
func failed(r healthcheck.Report) map[string]healthcheck.CheckResult {
	out := map[string]healthcheck.CheckResult{}
	for _, c := range r.Categories {
		for _, ch := range c.Checks {
			if ch.Result != "success" {
				out[ch.Description] = ch
			}
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		modify func(*cluster)
		at     time.Time
		fails  string // a failed check's description, "" for none
		hint   string
	}{
		{name: "all well"},
		{name: "identity scaled to 0", modify: func(c *cluster) {
			for _, o := range c.objs {
				if d, ok := o.(*appsv1.Deployment); ok && d.Name == "meshfed-identity" {
					zero := int32(0)
					d.Spec.Replicas = &zero
					d.Status = appsv1.DeploymentStatus{}
				}
			}
		}, fails: "the Deployment mesh-system/meshfed-identity is available", hint: "kubectl -n mesh-system describe deployment meshfed-identity"},
		{name: "issuer expired", at: now.Add(13 * time.Hour),
			fails: "the issuer is valid for an hour more and chains to the trust bundle", hint: "cert-manager renews it"},
		{name: "issuer from another anchor", modify: func(c *cluster) {
			other, _ := trust.NewAnchor("other", time.Hour, now)
			c.objs[len(c.objs)-2] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: trust.BundleConfigMapName, Namespace: trust.Namespace},
				Data: map[string]string{trust.BundleKey: string(trust.EncodeCertificates(other.Cert))}}
		}, fails: "the issuer is valid for an hour more and chains to the trust bundle"},
		{name: "a policy CRD missing", modify: func(c *cluster) { c.crds = c.crds[1:] },
			fails: "the policy CRDs are established", hint: "mesh install"},
		{name: "the webhook's Service has no endpoint", modify: func(c *cluster) {
			for i, o := range c.objs {
				if es, ok := o.(*discoveryv1.EndpointSlice); ok {
					es.Endpoints = nil
					c.objs[i] = es
				}
			}
		}, fails: "the webhook's Service mesh-system/meshfed-injector has a ready endpoint", hint: "pods get no proxy while it has none"},
		{name: "the apiserver cannot reach the webhook", modify: func(c *cluster) { c.webhookDown = true },
			fails: "the apiserver reaches the webhook: a pod created with dry run gets the proxy", hint: "FailedCallingWebhook"},
		{name: "Kubernetes too old", modify: func(c *cluster) { c.minor = "28" },
			fails: "Kubernetes is 1.29 or later, for native sidecars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := healthy(t, now)
			if tt.modify != nil {
				tt.modify(c)
			}
			at := tt.at
			if at.IsZero() {
				at = now
			}
			report, out, err := run(t, c, at)
			f := failed(report)
			if tt.fails == "" {
				if err != nil || len(f) > 0 {
					t.Fatalf("check failed: %v\n%s", err, out)
				}
				return
			}
			got, ok := f[tt.fails]
			if err == nil || !ok || !strings.Contains(got.Hint, tt.hint) || len(f) != 1 {
				t.Errorf("failed %v (err %v); want only %q, with a hint containing %q\n%s", keys(f), err, tt.fails, tt.hint, out)
			}
		})
	}
}

func keys(m map[string]healthcheck.CheckResult) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCheckProxies(t *testing.T) {
	now := time.Now()
	pod := func(name, image string, ready bool) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: ProxyContainer, Image: image}},
				Containers:     []corev1.Container{{Name: "app", Image: "app"}},
			},
			Status: corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: ProxyContainer, Ready: ready}}},
		}
	}
	tests := []struct {
		name  string
		pods  []runtime.Object
		fails string
	}{
		{name: "all ready", pods: []runtime.Object{pod("web-1", "ghcr.io/meshfed/proxy:dev", true)}},
		{name: "one not ready", pods: []runtime.Object{pod("web-1", "ghcr.io/meshfed/proxy:dev", true), pod("web-2", "ghcr.io/meshfed/proxy:dev", false)},
			fails: "every proxy is ready: it holds a current certificate"},
		{name: "an old proxy", pods: []runtime.Object{pod("web-1", "ghcr.io/meshfed/proxy:v0.0.9", true)},
			fails: "every proxy runs version dev"},
		{name: "nothing meshed", pods: []runtime.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "shop"}}},
			fails: "the namespace has meshed pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := healthy(t, now)
			c.objs = append(c.objs, tt.pods...)
			report, out, err := run(t, c, now, "--proxy", "-n", "shop")
			f := failed(report)
			if tt.fails == "" {
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				return
			}
			if _, ok := f[tt.fails]; !ok || len(f) != 1 {
				t.Errorf("failed %v; want only %q\n%s", keys(f), tt.fails, out)
			}
		})
	}
}

func TestCheckBadInput(t *testing.T) {
	for args, want := range map[string]string{
		"-o yaml":       `--output "yaml" is not a format`,
		"--wait -1s":    "--wait -1s is negative",
		"--pre --proxy": "--pre and --proxy do not go together",
	} {
		var out bytes.Buffer
		cmd := NewCmdCheck(factory{healthy(t, time.Now()).clients()}, cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
		cmd.SetArgs(strings.Fields(args))
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check %s: %v; want %q", args, err, want)
		}
	}
}
