package mirror

import (
	"context"
	"log/slog"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// Scheme is every type the link controller reads, here and in remote clusters.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, mcv1alpha1.AddToScheme, mcsv1alpha1.AddToScheme, aboutv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// CacheOptions keeps the manager's cache to what the controller needs: Secrets only in the
// namespace Links live in, which is all its RBAC lets it read. Services and EndpointSlices
// are cached whole, not only the controller's own: this cluster's exported Services and
// their endpoints are members of their ServiceImports (clusterset.go). IPAddresses, one per
// Service, are cached whole too: they say which ClusterSetIPs are free (clusterset_ips.go).
func CacheOptions(linkNamespace string) cache.Options {
	return cache.Options{
		// Managed fields are most of an object's size and none of the controller's business;
		// updates from a stripped object leave them as they are.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:   {Namespaces: map[string]cache.Config{linkNamespace: {}}},
			&mcv1alpha1.Link{}: {Namespaces: map[string]cache.Config{linkNamespace: {}}},
		},
	}
}

// Options tune the controllers.
type Options struct {
	// DialGateway opens the probes' connections to remote gateways: a net.Dialer unless a
	// test must reach a gateway address through loopback.
	DialGateway func(ctx context.Context, network, addr string) (net.Conn, error)
	// GatewayMembers, when set, reads the gateways' gossip pool as the local gateway sees it;
	// it is polled every GatewayMembersEvery (default DefaultGatewayMembersEvery), and its
	// word on a linked cluster's gateway goes before the Link's probe.
	GatewayMembers      func(context.Context) ([]GatewayMember, error)
	GatewayMembersEvery time.Duration
	// Workers is how many remote Services are reconciled at once.
	Workers int
	// ClusterName is this cluster's name where no ClusterProperty cluster.clusterset.k8s.io
	// says it; the ClusterProperty wins.
	ClusterName string
	// Reconciled, when set, is told of every remote Service reconciled without error, as
	// "<link namespace>/<link name>: <namespace>/<name>". Tests and benchmarks wait on it.
	Reconciled func(string)
}

// DefaultGatewayMembersEvery is how often the gossip pool's view is read when
// Options.GatewayMembersEvery is zero. A read is a GET of a few hundred bytes from the local
// gateway on a kept-alive connection, so ten a second cost nothing to speak of, and they
// keep what the poll adds to a dead gateway's detection (the pool's ~1 s) under 100 ms:
// at 500 ms, the poll was a quarter of the way to the 2 s goal (go run ./bench/liveness).
const DefaultGatewayMembersEvery = 100 * time.Millisecond

// Setup adds the link and mirror controllers to mgr.
func Setup(mgr manager.Manager, log *slog.Logger, opts Options) error {
	if opts.Workers == 0 {
		opts.Workers = 8
	}
	// Remote events reach the controllers through channels; a send waits for room rather
	// than drop an event, and the controllers drain them as fast as keys are queued.
	mirrorEvents := make(chan event.TypedGenericEvent[mirrorKey], 4096)
	linkEvents := make(chan event.GenericEvent, 256)
	enqueue := func(k mirrorKey) { mirrorEvents <- event.TypedGenericEvent[mirrorKey]{Object: k} }
	linkChanged := func(l types.NamespacedName) {
		linkEvents <- event.GenericEvent{Object: &mcv1alpha1.Link{ObjectMeta: objectMeta(l)}}
	}
	st := newStatuses(linkChanged, realClock{})
	rs := newRemotes(log, mgr.GetScheme(), enqueue, linkChanged)
	gw := newGatewayProbes(log, linkChanged, opts.DialGateway)
	if opts.GatewayMembers != nil {
		every := opts.GatewayMembersEvery
		if every <= 0 {
			every = DefaultGatewayMembersEvery
		}
		gw.members = &gossipView{fetch: opts.GatewayMembers, every: every, changed: gw.clusterChanged, log: log}
		if err := mgr.Add(gw.members); err != nil {
			return err
		}
	}

	for _, obj := range []client.Object{&corev1.Service{}, &discoveryv1.EndpointSlice{}} {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, mirrorIndex, indexMirror); err != nil {
			return err
		}
	}
	// Mirrors are written into namespaces the mirror controller checks first: its informer
	// starts with the manager, not lazily under the first export.
	if _, err := mgr.GetCache().GetInformer(context.Background(), &corev1.Namespace{}); err != nil {
		return err
	}
	mirrors, err := controller.NewTyped("mirror", mgr, controller.TypedOptions[mirrorKey]{
		Reconciler:              &mirrorReconciler{client: mgr.GetClient(), remotes: rs, gateways: gw, statuses: st, reconciled: opts.Reconciled},
		MaxConcurrentReconciles: opts.Workers,
	})
	if err != nil {
		return err
	}
	if err := mirrors.Watch(source.TypedChannel(mirrorEvents, handler.TypedFuncs[mirrorKey, mirrorKey]{
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[mirrorKey], q workqueue.TypedRateLimitingInterface[mirrorKey]) {
			q.Add(e.Object)
		},
	})); err != nil {
		return err
	}
	// A mirror changed or deleted here by someone else is put back.
	for _, obj := range []client.Object{&corev1.Service{}, &discoveryv1.EndpointSlice{}} {
		if err := mirrors.Watch(source.TypedKind(mgr.GetCache(), obj, handler.TypedEnqueueRequestsFromMapFunc(keyOfMirror))); err != nil {
			return err
		}
	}

	if err := setupClusterset(mgr, log, opts); err != nil {
		return err
	}
	return builder.ControllerManagedBy(mgr).
		Named("link").
		For(&mcv1alpha1.Link{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(linksUsingSecret(mgr.GetClient()))).
		WatchesRawSource(source.Channel(linkEvents, &handler.EnqueueRequestForObject{})).
		Complete(&linkReconciler{client: mgr.GetClient(), remotes: rs, gateways: gw, statuses: st, enqueue: enqueue, readOnly: checkReadOnly})
}

// setupClusterset adds the clusterset controller (clusterset.go), if this cluster serves the
// ServiceExport and ServiceImport APIs.
func setupClusterset(mgr manager.Manager, log *slog.Logger, opts Options) error {
	served := func(gvk schema.GroupVersionKind) bool {
		_, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		return err == nil
	}
	if !served(mcsv1alpha1.SchemeGroupVersion.WithKind("ServiceExport")) || !served(mcsv1alpha1.SchemeGroupVersion.WithKind("ServiceImport")) {
		log.Warn("the MCS API (ServiceExport, ServiceImport) is not served here: no ServiceImport is made; apply the CRDs of `mesh multicluster install` and restart")
		return nil
	}
	r := &clustersetReconciler{
		client:       mgr.GetClient(),
		clusterName:  opts.ClusterName,
		properties:   served(aboutv1alpha1.GroupVersion.WithKind("ClusterProperty")),
		serviceCIDRs: served(networkingv1.SchemeGroupVersion.WithKind("ServiceCIDR")) && served(networkingv1.SchemeGroupVersion.WithKind("IPAddress")),
	}
	if !r.serviceCIDRs {
		log.Warn("the ServiceCIDR API (networking.k8s.io/v1, Kubernetes 1.33+) is not served here: ClusterSetIPs come from the cluster's service range, not a range of their own")
	}
	keys := handler.EnqueueRequestsFromMapFunc(clustersetKeys(mgr.GetClient()))
	b := builder.ControllerManagedBy(mgr).
		Named("clusterset").
		For(&mcsv1alpha1.ServiceExport{}).
		Watches(&mcsv1alpha1.ServiceImport{}, keys).
		Watches(&corev1.Service{}, keys).
		Watches(&discoveryv1.EndpointSlice{}, keys).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers})
	if r.properties {
		// This cluster's name changed: every export and import says it.
		b = b.Watches(&aboutv1alpha1.ClusterProperty{}, handler.EnqueueRequestsFromMapFunc(allExports(mgr.GetClient())))
	}
	if r.serviceCIDRs {
		// A range labelled, added, freed or gone: every import's Ready says where its
		// ClusterSetIP is from, and those waiting for one may now get it.
		b = b.Watches(&networkingv1.ServiceCIDR{}, handler.EnqueueRequestsFromMapFunc(imports(mgr.GetClient(), false))).
			// An address released: room for the imports waiting in a full range.
			Watches(&networkingv1.IPAddress{}, handler.EnqueueRequestsFromMapFunc(imports(mgr.GetClient(), true)),
				builder.WithPredicates(predicate.Funcs{
					CreateFunc:  func(event.CreateEvent) bool { return false },
					UpdateFunc:  func(event.UpdateEvent) bool { return false },
					GenericFunc: func(event.GenericEvent) bool { return false },
				}))
	}
	return b.Complete(r)
}

// imports maps anything to the ServiceImports of this cluster; with waiting, to those whose
// Ready is not True, which wait for a ClusterSetIP.
func imports(c client.Reader, waiting bool) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcileRequest {
		var list mcsv1alpha1.ServiceImportList
		if err := c.List(ctx, &list); err != nil {
			return nil
		}
		var out []reconcileRequest
		for _, si := range list.Items {
			if waiting && meta.IsStatusConditionTrue(si.Status.Conditions, string(mcsv1alpha1.ServiceImportConditionReady)) {
				continue
			}
			out = append(out, reconcileRequest{NamespacedName: types.NamespacedName{Namespace: si.Namespace, Name: si.Name}})
		}
		return out
	}
}

// clustersetKeys maps an object to the clusterset service it is part of: one of the
// clusterset controller's or the Links' by its label, else a Service (or its slice) of this
// cluster that a ServiceExport exports.
func clustersetKeys(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcileRequest {
		l := obj.GetLabels()
		if n := l[mcsv1alpha1.LabelServiceName]; n != "" {
			return []reconcileRequest{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: n}}}
		}
		name := obj.GetName()
		if _, ok := obj.(*discoveryv1.EndpointSlice); ok {
			if name = l[discoveryv1.LabelServiceName]; name == "" {
				return nil
			}
		}
		key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}
		if err := c.Get(ctx, key, &mcsv1alpha1.ServiceExport{}); err != nil {
			return nil // not exported here, or gone: the export's own event says so
		}
		return []reconcileRequest{{NamespacedName: key}}
	}
}

// allExports maps anything to every ServiceExport of this cluster.
func allExports(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcileRequest {
		var exports mcsv1alpha1.ServiceExportList
		if err := c.List(ctx, &exports); err != nil {
			return nil
		}
		out := make([]reconcileRequest, 0, len(exports.Items))
		for _, e := range exports.Items {
			out = append(out, reconcileRequest{NamespacedName: types.NamespacedName{Namespace: e.Namespace, Name: e.Name}})
		}
		return out
	}
}

func objectMeta(n types.NamespacedName) ctrl.ObjectMeta {
	return ctrl.ObjectMeta{Namespace: n.Namespace, Name: n.Name}
}

// keyOfMirror maps a local mirror to the remote Service it stands for.
func keyOfMirror(_ context.Context, obj client.Object) []mirrorKey {
	l := obj.GetLabels()
	link, remoteName := l[mcv1alpha1.LabelLink], l[mcv1alpha1.LabelRemoteName]
	ns, name, ok := splitLinkLabel(link)
	if !ok || remoteName == "" {
		return nil
	}
	return []mirrorKey{{Link: types.NamespacedName{Namespace: ns, Name: name}, Namespace: obj.GetNamespace(), Name: remoteName}}
}

// splitLinkLabel undoes linkLabel: a namespace holds no '.', so the first one separates.
func splitLinkLabel(v string) (string, string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			return v[:i], v[i+1:], i > 0 && i < len(v)-1
		}
	}
	return "", "", false
}

func linksUsingSecret(c client.Client) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcileRequest {
		var links mcv1alpha1.LinkList
		if err := c.List(ctx, &links, client.InNamespace(obj.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcileRequest
		for _, l := range links.Items {
			if l.Spec.CredentialsSecret == obj.GetName() {
				out = append(out, reconcileRequest{NamespacedName: types.NamespacedName{Namespace: l.Namespace, Name: l.Name}})
			}
		}
		return out
	}
}

type reconcileRequest = ctrl.Request
