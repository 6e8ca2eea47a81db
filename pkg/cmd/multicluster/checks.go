package multicluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/healthcheck"
	"github.com/meshfed/meshfed/pkg/mirror"
)

// localCategory checks this cluster's multicluster components. Its last check lists the
// Links into *links, for the categories that follow.
func localCategory(c *cmdutil.Clients, links *[]mcv1alpha1.Link) Category {
	return Category{
		Name: "multicluster",
		Checks: []Check{
			{
				Description: "the Link CRD is installed",
				Hint:        "install the multicluster components: " + installCommand,
				Fatal:       true,
				Run:         func(ctx context.Context) error { return cmdutil.CRDEstablished(ctx, c, LinkCRDName) },
			},
			{
				Description: "the link controller is available",
				Hint: fmt.Sprintf("see why: kubectl -n %s describe deployment %s; kubectl -n %s logs deployment/%s; if it is missing: %s",
					Namespace, ControllerName, Namespace, ControllerName, installCommand),
				Run: func(ctx context.Context) error { return checkController(ctx, c) },
			},
			{
				Description: "other clusters can link to this one: the remote reader's token is ready",
				Hint:        fmt.Sprintf("the token controller fills the Secret %s/%s once the ServiceAccount %s exists: %s", Namespace, RemoteReaderTokenSecret, RemoteReaderName, installCommand),
				Run: func(ctx context.Context) error {
					_, _, err := readReaderToken(ctx, c, "")
					return err
				},
			},
			{
				Description: "the Links can be read",
				Hint:        "check that your user may list links.multicluster.meshfed.io in " + Namespace,
				Fatal:       true,
				Run: func(ctx context.Context) error {
					l, err := listLinks(ctx, c)
					*links = l
					return err
				},
			},
		},
	}
}

func checkController(ctx context.Context, c *cmdutil.Clients) error {
	d, err := c.Kube.AppsV1().Deployments(Namespace).Get(ctx, ControllerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no Deployment %s/%s", Namespace, ControllerName)
	}
	if err != nil {
		return fmt.Errorf("reading the Deployment %s/%s: %w", Namespace, ControllerName, err)
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
			return nil
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return fmt.Errorf("the Deployment %s/%s has %d of %d replicas available", Namespace, ControllerName, d.Status.AvailableReplicas, want)
}

func listLinks(ctx context.Context, c *cmdutil.Clients) ([]mcv1alpha1.Link, error) {
	l, err := c.Dynamic.Resource(linksGVR).Namespace(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the Links in %s: %w", Namespace, err)
	}
	links := make([]mcv1alpha1.Link, 0, len(l.Items))
	for _, u := range l.Items {
		var link mcv1alpha1.Link
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &link); err != nil {
			return nil, fmt.Errorf("the Link %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		links = append(links, link)
	}
	slices.SortFunc(links, func(a, b mcv1alpha1.Link) int { return strings.Compare(a.Name, b.Name) })
	return links, nil
}

// linkCategory checks one Link: its credentials, the remote they reach, and its mirrors.
func linkCategory(link *mcv1alpha1.Link, local *cmdutil.Clients, f cmdutil.Factory, dial dialFunc) Category {
	cluster := link.Spec.TargetClusterName
	remote := healthcheck.OnceOK(func(ctx context.Context) (*cmdutil.Clients, error) {
		return remoteClients(ctx, link, local, f)
	})
	relink := fmt.Sprintf("make the credentials anew: run 'mesh multicluster link --cluster-name %s' against %s and apply its output here", cluster, cluster)
	why := fmt.Sprintf("the Link's status says why: kubectl -n %s describe link %s; and the controller's log: kubectl -n %s logs deployment/%s", link.Namespace, link.Name, Namespace, ControllerName)
	withRemote := func(f func(context.Context, *cmdutil.Clients) error) func(context.Context) error {
		return func(ctx context.Context) error {
			rc, err := remote(ctx)
			if err != nil {
				return err
			}
			return f(ctx, rc)
		}
	}
	return Category{
		Name: fmt.Sprintf("link %s (cluster %s)", link.Name, cluster),
		Checks: []Check{
			{
				Description: "the credentials Secret exists and parses",
				Hint:        relink,
				Fatal:       true,
				Run: func(ctx context.Context) error {
					_, err := remote(ctx)
					return err
				},
			},
			{
				Description: fmt.Sprintf("cluster %s answers with the Link's credentials", cluster),
				Hint:        fmt.Sprintf("check that %s's API server answers at the address the credentials name (link --api-server-address sets it) and that %s has the multicluster components (%s); then %s", cluster, cluster, installCommand, relink),
				Fatal:       true,
				Run:         withRemote(func(ctx context.Context, rc *cmdutil.Clients) error { return checkRemoteAnswers(ctx, cluster, rc) }),
			},
			{
				Description: fmt.Sprintf("the credentials are read-only in cluster %s", cluster),
				Hint:        fmt.Sprintf("the ServiceAccount %s/%s of %s must be bound to the ClusterRole meshfed-remote-reader only: look for other bindings with kubectl get clusterrolebindings,rolebindings -A -o wide | grep %s (in %s)", Namespace, RemoteReaderName, cluster, RemoteReaderName, cluster),
				Run:         withRemote(func(ctx context.Context, rc *cmdutil.Clients) error { return checkReadOnly(ctx, cluster, rc) }),
			},
			{
				Description: fmt.Sprintf("the gateway of %s answers the link controller's probe", cluster),
				Hint:        fmt.Sprintf("in %s: kubectl -n %s get deployment,service %s (the probe is GET /ready on its port %s); %s", cluster, Namespace, GatewayServiceName, GatewayProbePortName, why),
				Run:         func(context.Context) error { return checkGatewayAlive(link) },
			},
			{
				Description: fmt.Sprintf("the gateway of %s shows its identity over TLS 1.3, chained to this cluster's anchors", cluster),
				Hint:        fmt.Sprintf("both clusters must trust one anchor (the same cert-manager issuer, or mesh install --anchor with one CA), and the Link's spec.gatewayIdentity must be what %s's gateway is: check it with kubectl -n %s get link %s -o yaml. This check dials the gateway from where mesh runs", cluster, link.Namespace, link.Name),
				Run:         func(ctx context.Context) error { return checkGatewayIdentity(ctx, link, local, dial) },
			},
			{
				Description: fmt.Sprintf("every Service %s exports has its mirror here", cluster),
				Hint:        why,
				Run: withRemote(func(ctx context.Context, rc *cmdutil.Clients) error {
					return checkMirrors(ctx, link, rc, local, false)
				}),
			},
			{
				Description: fmt.Sprintf("every mirror of %s here has its export there", cluster),
				Hint:        "the link controller deletes a mirror whose export is gone; " + why,
				Run: withRemote(func(ctx context.Context, rc *cmdutil.Clients) error {
					return checkMirrors(ctx, link, rc, local, true)
				}),
			},
		},
	}
}

// checkGatewayAlive reads the Link's GatewayAlive condition. A Link without a probe passes:
// nothing says its gateway is dead.
func checkGatewayAlive(link *mcv1alpha1.Link) error {
	c := meta.FindStatusCondition(link.Status.Conditions, mcv1alpha1.LinkGatewayAlive)
	if c == nil || c.Status == metav1.ConditionTrue {
		return nil
	}
	return fmt.Errorf("the gateway of %s is not alive (%s): %s", link.Spec.TargetClusterName, c.Reason, c.Message)
}

// remoteClients reads the Link's credentials Secret and makes clients of the remote.
func remoteClients(ctx context.Context, link *mcv1alpha1.Link, local *cmdutil.Clients, f cmdutil.Factory) (*cmdutil.Clients, error) {
	name := link.Spec.CredentialsSecret
	s, err := local.Kube.CoreV1().Secrets(link.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the Link's credentials Secret %s/%s does not exist", link.Namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Link's credentials Secret %s/%s: %w", link.Namespace, name, err)
	}
	data, ok := s.Data[mcv1alpha1.CredentialsKey]
	if !ok {
		return nil, fmt.Errorf("the Secret %s/%s has no key %q", link.Namespace, name, mcv1alpha1.CredentialsKey)
	}
	config, err := mirror.ParseCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("the Secret %s/%s: %w", link.Namespace, name, err)
	}
	return f.ClientsFor(config)
}

// checkRemoteAnswers reads, with the credentials, each kind the link controller watches.
func checkRemoteAnswers(ctx context.Context, cluster string, rc *cmdutil.Clients) error {
	one := metav1.ListOptions{Limit: 1}
	reads := []struct {
		what string
		list func() error
	}{
		{"Services", func() error { _, err := rc.Kube.CoreV1().Services("").List(ctx, one); return err }},
		{"EndpointSlices", func() error { _, err := rc.Kube.DiscoveryV1().EndpointSlices("").List(ctx, one); return err }},
		{"Pods", func() error { _, err := rc.Kube.CoreV1().Pods("").List(ctx, one); return err }},
		{"ServiceExports", func() error {
			_, err := rc.Dynamic.Resource(serviceExportsGVR).List(ctx, one)
			if apierrors.IsNotFound(err) {
				return nil // no ServiceExport CRD there: nothing exported that way
			}
			return err
		}},
	}
	for _, r := range reads {
		if err := r.list(); err != nil {
			return fmt.Errorf("listing %s in %s at %s: %w", r.what, cluster, rc.Host, err)
		}
	}
	return nil
}

// checkReadOnly asks the remote's authorizer, as the credentials, whether they may write
// what the link controller only reads, or read Secrets.
func checkReadOnly(ctx context.Context, cluster string, rc *cmdutil.Clients) error {
	allowed, err := mirror.ForbiddenAllowed(ctx, rc.Kube)
	if err != nil {
		return fmt.Errorf("%s: %w", cluster, err)
	}
	if len(allowed) > 0 {
		return fmt.Errorf("in %s the credentials may %s: they must only read Services, EndpointSlices, Pods and ServiceExports", cluster, strings.Join(allowed, ", "))
	}
	return nil
}

func qualified(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

// nsName is a namespaced name.
type nsName struct{ namespace, name string }

func (n nsName) String() string { return n.namespace + "/" + n.name }

// checkMirrors compares the remote's exports the Link selects with the Link's mirrors here:
// it fails on an export with no mirror, or, with orphans set, on a mirror with no export.
func checkMirrors(ctx context.Context, link *mcv1alpha1.Link, rc, local *cmdutil.Clients, orphans bool) error {
	cluster := link.Spec.TargetClusterName
	exports, err := remoteExports(ctx, link, rc)
	if err != nil {
		return err
	}
	mirrors, err := linkMirrors(ctx, link, local)
	if err != nil {
		return err
	}
	var bad []string
	if orphans {
		for _, m := range mirrors {
			remote := m.Labels[mcv1alpha1.LabelRemoteName]
			if remote == "" {
				remote = strings.TrimSuffix(m.Name, "-"+cluster)
			}
			if !exports[nsName{m.Namespace, remote}] {
				bad = append(bad, fmt.Sprintf("%s/%s (of %s)", m.Namespace, m.Name, remote))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d of %d mirrors stand for no Service %s exports, or one the Link does not select: %s", len(bad), len(mirrors), cluster, list(bad))
		}
		return nil
	}
	have := map[nsName]bool{}
	for _, m := range mirrors {
		have[nsName{m.Namespace, m.Name}] = true
	}
	for _, e := range sortedExports(exports) {
		want := e.name + "-" + cluster
		if have[nsName{e.namespace, want}] {
			continue
		}
		if len(validation.IsDNS1035Label(want)) > 0 {
			bad = append(bad, fmt.Sprintf("%s (%s is not a valid Service name: rename it in %s, or link %s under a shorter name)", e, want, cluster, cluster))
			continue
		}
		bad = append(bad, fmt.Sprintf("%s (no %s/%s)", e, e.namespace, want))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d exports of %s have no mirror here: %s", len(bad), len(exports), cluster, list(bad))
	}
	return nil
}

// remoteExports returns the Services the remote exports, by label or ServiceExport, that the
// Link selects.
func remoteExports(ctx context.Context, link *mcv1alpha1.Link, rc *cmdutil.Clients) (map[nsName]bool, error) {
	cluster := link.Spec.TargetClusterName
	selector := labels.Everything()
	if link.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(link.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("the Link's spec.selector: %w", err)
		}
		selector = s
	}
	svcs, err := rc.Kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the Services of %s: %w", cluster, err)
	}
	exported := map[nsName]bool{}
	ses, err := rc.Dynamic.Resource(serviceExportsGVR).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err): // no ServiceExport CRD there
	case err != nil:
		return nil, fmt.Errorf("listing the ServiceExports of %s: %w", cluster, err)
	default:
		for _, se := range ses.Items {
			exported[nsName{se.GetNamespace(), se.GetName()}] = true
		}
	}
	out := map[nsName]bool{}
	for _, s := range svcs.Items {
		n := nsName{s.Namespace, s.Name}
		v := s.Labels[mcv1alpha1.LabelExported]
		if (v == mcv1alpha1.ExportedGateway || v == mcv1alpha1.ExportedRemoteDiscovery || exported[n]) && selector.Matches(labels.Set(s.Labels)) {
			out[n] = true
		}
	}
	return out, nil
}

// linkMirrors returns the mirror Services the Link owns here.
func linkMirrors(ctx context.Context, link *mcv1alpha1.Link, local *cmdutil.Clients) ([]corev1.Service, error) {
	sel := labels.Set{
		mcv1alpha1.LabelMirroredService: "true",
		mcv1alpha1.LabelClusterName:     link.Spec.TargetClusterName,
		mcv1alpha1.LabelLink:            linkLabelValue(link.Namespace, link.Name),
	}.String()
	l, err := local.Kube.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing the mirrors here (%s): %w", sel, err)
	}
	slices.SortFunc(l.Items, func(a, b corev1.Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return l.Items, nil
}

func sortedExports(m map[nsName]bool) []nsName {
	out := make([]nsName, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b nsName) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// list joins at most 5 items, saying how many more there are.
func list(items []string) string {
	const most = 5
	if len(items) <= most {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:most], ", "), len(items)-most)
}
