package check

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	trustcmd "github.com/meshfed/meshfed/pkg/cmd/trust"
	"github.com/meshfed/meshfed/pkg/healthcheck"
	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust"
)

const (
	installHint = "install the control plane: mesh install --cluster-name <name> --identity-external-issuer | kubectl apply -f - (or --anchor DIR in place of --identity-external-issuer, see mesh install --help)"
	// ProxyContainer is the proxy's container (or native sidecar) in a meshed pod.
	ProxyContainer = "meshfed-proxy"
)

// minMinor is the first Kubernetes 1.x with native sidecars on by default.
const minMinor = 29

func apiCategory(c *cmdutil.Clients) healthcheck.Category {
	var minor int
	return healthcheck.Category{
		Name: "kubernetes-api",
		Checks: []healthcheck.Check{
			{
				Description: "the Kubernetes API answers",
				Hint:        "check --kubeconfig and --context, and that the API server at the context's address is up: kubectl cluster-info",
				Fatal:       true,
				Run: func(ctx context.Context) error {
					v, err := c.Kube.Discovery().ServerVersion()
					if err != nil {
						return fmt.Errorf("%s: %w", c.Host, err)
					}
					minor, _ = strconv.Atoi(strings.TrimRight(v.Minor, "+"))
					if v.Major != "1" {
						minor = minMinor
					}
					return nil
				},
			},
			{
				Description: fmt.Sprintf("Kubernetes is 1.%d or later, for native sidecars", minMinor),
				Hint:        "upgrade the cluster; or inject proxies as ordinary containers: mesh inject --native-sidecar=false",
				Run: func(context.Context) error {
					if minor < minMinor {
						return fmt.Errorf("the API server is 1.%d", minor)
					}
					return nil
				},
			},
		},
	}
}

func preCategory(c *cmdutil.Clients) healthcheck.Category {
	type can struct{ group, resource string }
	needs := []can{{"", "namespaces"}, {"apiextensions.k8s.io", "customresourcedefinitions"}, {"rbac.authorization.k8s.io", "clusterroles"},
		{"rbac.authorization.k8s.io", "clusterrolebindings"}, {"admissionregistration.k8s.io", "mutatingwebhookconfigurations"}}
	return healthcheck.Category{
		Name: "pre-install",
		Checks: []healthcheck.Check{
			{
				Description: "you may create what mesh install makes (namespaces, CRDs, cluster roles, webhooks)",
				Hint:        "install as a cluster administrator",
				Run: func(ctx context.Context) error {
					var denied []string
					for _, n := range needs {
						r, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
							Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "create", Group: n.group, Resource: n.resource}},
						}, metav1.CreateOptions{})
						if err != nil {
							return fmt.Errorf("asking whether you may create %s: %w", n.resource, err)
						}
						if !r.Status.Allowed {
							denied = append(denied, n.resource)
						}
					}
					if len(denied) > 0 {
						return fmt.Errorf("you may not create %s", strings.Join(denied, ", "))
					}
					return nil
				},
			},
			{
				Description: "cert-manager is installed",
				Hint:        "install cert-manager first (https://cert-manager.io/docs/installation/); or make the issuer by hand: mesh trust cluster without --cert-manager",
				Run:         func(ctx context.Context) error { return cmdutil.CRDEstablished(ctx, c, "certificates.cert-manager.io") },
			},
		},
	}
}

// installed is what `mesh install` makes that check looks for.
type installed struct {
	crds        []string
	deployments []*unstructured.Unstructured
	webhooks    []*unstructured.Unstructured
}

func whatInstallMakes() (installed, error) {
	manifests, err := deploy.ControlPlane(deploy.ControlPlaneValues{Registry: cmdutil.DefaultRegistry, Version: cmdutil.DefaultVersion, TrustDomain: "check.meshfed.local"})
	if err != nil {
		return installed{}, err
	}
	var in installed
	for _, m := range append(deploy.PolicyCRDs(), manifests...) {
		docs, err := cmdutil.DecodeDocuments(m.Data)
		if err != nil {
			return installed{}, fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		for _, u := range docs {
			switch u.GetKind() {
			case "CustomResourceDefinition":
				in.crds = append(in.crds, u.GetName())
			case "Deployment":
				in.deployments = append(in.deployments, u)
			case "MutatingWebhookConfiguration":
				in.webhooks = append(in.webhooks, u)
			}
		}
	}
	return in, nil
}

func controlPlaneCategories(c *cmdutil.Clients, now func() time.Time) ([]healthcheck.Category, error) {
	in, err := whatInstallMakes()
	if err != nil {
		return nil, err
	}
	cp := healthcheck.Category{Name: "control-plane", Checks: []healthcheck.Check{{
		Description: "the policy CRDs are established",
		Hint:        installHint,
		Run: func(ctx context.Context) error {
			var errs []error
			for _, name := range in.crds {
				errs = append(errs, cmdutil.CRDEstablished(ctx, c, name))
			}
			return errors.Join(errs...)
		},
	}}}
	for _, d := range in.deployments {
		ns, name := d.GetNamespace(), d.GetName()
		cp.Checks = append(cp.Checks, healthcheck.Check{
			Description: fmt.Sprintf("the Deployment %s/%s is available", ns, name),
			Hint:        fmt.Sprintf("see why: kubectl -n %s describe deployment %s; kubectl -n %s logs deployment/%s; if it is missing: %s", ns, name, ns, name, installHint),
			Run:         func(ctx context.Context) error { return deploymentAvailable(ctx, c, ns, name) },
		})
	}
	cats := []healthcheck.Category{cp, trustCategory(c, now)}
	for _, w := range in.webhooks {
		cats = append(cats, webhookCategory(c, w))
	}
	return cats, nil
}

func trustCategory(c *cmdutil.Clients, now func() time.Time) healthcheck.Category {
	var bundle *trust.Bundle
	renew := fmt.Sprintf("cert-manager renews it: kubectl -n %s describe certificate %s; made by hand, make it anew: mesh trust cluster --anchor DIR --cluster <name> | kubectl apply -f -", trust.Namespace, trust.IssuerCertificateName)
	return healthcheck.Category{
		Name: "trust",
		Checks: []healthcheck.Check{
			{
				Description: "the trust bundle holds anchors",
				Hint:        "apply the cluster's trust: mesh trust cluster --anchor DIR --cluster <name> [--cert-manager] | kubectl apply -f -",
				Fatal:       true,
				Run: func(ctx context.Context) error {
					b, _, err := trustcmd.ReadBundle(ctx, c)
					bundle = b
					return err
				},
			},
			{
				Description: "the issuer is valid for an hour more and chains to the trust bundle",
				Hint:        renew,
				Run: func(ctx context.Context) error {
					issuer, chain, _, err := trustcmd.ReadIssuer(ctx, c)
					if err != nil {
						return err
					}
					t := now()
					if t.After(issuer.NotAfter) {
						return fmt.Errorf("the issuer expired at %s: proxies get no new certificate", issuer.NotAfter.UTC().Format(time.RFC3339))
					}
					if t.Add(time.Hour).After(issuer.NotAfter) {
						return fmt.Errorf("the issuer expires at %s", issuer.NotAfter.UTC().Format(time.RFC3339))
					}
					if _, err := bundle.VerifyIssuer(issuer, chain, t); err != nil {
						return err
					}
					return nil
				},
			},
		},
	}
}

func webhookCategory(c *cmdutil.Clients, w *unstructured.Unstructured) healthcheck.Category {
	name := w.GetName()
	hooks, _, _ := unstructured.NestedSlice(w.Object, "webhooks")
	var svcNS, svcName string
	if len(hooks) > 0 {
		if h, ok := hooks[0].(map[string]any); ok {
			svcNS, _, _ = unstructured.NestedString(h, "clientConfig", "service", "namespace")
			svcName, _, _ = unstructured.NestedString(h, "clientConfig", "service", "name")
		}
	}
	return healthcheck.Category{
		Name: "injector-webhook",
		Checks: []healthcheck.Check{
			{
				Description: fmt.Sprintf("the MutatingWebhookConfiguration %s is there with its CA bundle", name),
				Hint:        "cert-manager's cainjector fills the CA bundle from the injector's Certificate: kubectl -n " + trust.Namespace + " describe certificate " + svcName + "; if it is missing: " + installHint,
				Run: func(ctx context.Context) error {
					m, err := c.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
					if apierrors.IsNotFound(err) {
						return fmt.Errorf("no MutatingWebhookConfiguration %s", name)
					}
					if err != nil {
						return err
					}
					for _, h := range m.Webhooks {
						if len(h.ClientConfig.CABundle) == 0 {
							return fmt.Errorf("the webhook %s has no CA bundle yet", h.Name)
						}
					}
					return nil
				},
			},
			{
				Description: fmt.Sprintf("the webhook's Service %s/%s has a ready endpoint", svcNS, svcName),
				Hint:        fmt.Sprintf("pods get no proxy while it has none: kubectl -n %s get pods; kubectl -n %s describe service %s", svcNS, svcNS, svcName),
				Fatal:       true,
				Run:         func(ctx context.Context) error { return serviceHasEndpoint(ctx, c, svcNS, svcName) },
			},
			{
				Description: "the apiserver reaches the webhook: a pod created with dry run gets the proxy",
				Hint:        fmt.Sprintf("the apiserver could not call the injector, or it skipped the pod: kubectl -n %s logs deploy/%s; kubectl get events -A --field-selector reason=FailedCallingWebhook", svcNS, svcName),
				Run:         func(ctx context.Context) error { return webhookInjects(ctx, c) },
			},
		},
	}
}

// webhookInjects creates a pod that asks for the proxy in the default namespace, as a dry
// run: the apiserver calls the webhook as for a real pod, and nothing is stored. The
// webhook's failurePolicy is Ignore, so a webhook that cannot be reached shows as a pod
// without the proxy, not as an error.
func webhookInjects(ctx context.Context, c *cmdutil.Clients) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "meshfed-check-", Annotations: map[string]string{inject.AnnotationInject: inject.InjectEnabled}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "meshfed-check"}}},
	}
	got, err := c.Kube.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return fmt.Errorf("creating a pod with dry run in %s: %w", metav1.NamespaceDefault, err)
	}
	for _, cs := range [][]corev1.Container{got.Spec.InitContainers, got.Spec.Containers} {
		for _, ct := range cs {
			if ct.Name == ProxyContainer {
				return nil
			}
		}
	}
	return errors.New("the pod came back without the proxy: the webhook did not answer, or declined (its warnings say why)")
}

func proxyCategory(c *cmdutil.Clients, ns, version string) healthcheck.Category {
	var meshed []corev1.Pod
	return healthcheck.Category{
		Name: "proxies (namespace " + ns + ")",
		Checks: []healthcheck.Check{
			{
				Description: "the namespace has meshed pods",
				Hint:        "inject them: kubectl -n " + ns + " get deploy -o yaml | mesh inject - | kubectl apply -f -",
				Fatal:       true,
				Run: func(ctx context.Context) error {
					pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
					if err != nil {
						return err
					}
					meshed = meshed[:0]
					for _, p := range pods.Items {
						if proxyOf(&p) != nil {
							meshed = append(meshed, p)
						}
					}
					if len(meshed) == 0 {
						return fmt.Errorf("none of the %d pods in %s has a proxy", len(pods.Items), ns)
					}
					return nil
				},
			},
			{
				Description: "every proxy is ready: it holds a current certificate",
				Hint:        "see why: kubectl -n " + ns + " logs <pod> -c " + ProxyContainer + "; a proxy is ready once the identity service has signed its certificate",
				Run: func(context.Context) error {
					var notReady []string
					for i := range meshed {
						if !proxyReady(&meshed[i]) {
							notReady = append(notReady, meshed[i].Name)
						}
					}
					if len(notReady) > 0 {
						return fmt.Errorf("not ready: %s", strings.Join(notReady, ", "))
					}
					return nil
				},
			},
			{
				Description: "every proxy runs version " + version,
				Hint:        "restart the workloads to get the injector's proxy: kubectl -n " + ns + " rollout restart deploy",
				Run: func(context.Context) error {
					var old []string
					for i := range meshed {
						if img := proxyOf(&meshed[i]).Image; !strings.HasSuffix(img, ":"+version) {
							old = append(old, fmt.Sprintf("%s (%s)", meshed[i].Name, img))
						}
					}
					if len(old) > 0 {
						return fmt.Errorf("other versions: %s", strings.Join(old, ", "))
					}
					return nil
				},
			},
		},
	}
}

// proxyOf is a pod's proxy container: a native sidecar (an init container) or an ordinary one.
func proxyOf(p *corev1.Pod) *corev1.Container {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			if list[i].Name == ProxyContainer {
				return &list[i]
			}
		}
	}
	return nil
}

func proxyReady(p *corev1.Pod) bool {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			if s.Name == ProxyContainer {
				return s.Ready
			}
		}
	}
	return false
}

func deploymentAvailable(ctx context.Context, c *cmdutil.Clients, ns, name string) error {
	d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no Deployment %s/%s", ns, name)
	}
	if err != nil {
		return fmt.Errorf("reading the Deployment %s/%s: %w", ns, name, err)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if want == 0 {
		return fmt.Errorf("the Deployment %s/%s is scaled to 0: kubectl -n %s scale deployment %s --replicas=1", ns, name, ns, name)
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("the Deployment %s/%s has %d of %d replicas available", ns, name, d.Status.AvailableReplicas, want)
}

func serviceHasEndpoint(ctx context.Context, c *cmdutil.Clients, ns, name string) error {
	slices, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return err
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				return nil
			}
		}
	}
	return fmt.Errorf("the Service %s/%s has no ready endpoint", ns, name)
}
