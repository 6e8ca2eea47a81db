package destination

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/policy"
)

// policyCoalesce is how long a GetPolicy stream waits, once woken by a change, for the rest
// of a burst (an `kubectl apply` of a directory of policy) before it sends: one update, not
// one per object.
const policyCoalesce = 100 * time.Millisecond

// The policy resources the service watches, in the order of policy.Objects.
const (
	resServers                = "servers"
	resAuthorizationPolicies  = "authorizationpolicies"
	resMeshTLSAuthentications = "meshtlsauthentications"
	resNetworkAuthentications = "networkauthentications"
)

var policyResources = []string{resServers, resAuthorizationPolicies, resMeshTLSAuthentications, resNetworkAuthentications}

// policyWatch holds informers on the policy objects of every namespace and the GetPolicy
// streams waiting on each namespace.
type policyWatch struct {
	log     *slog.Logger
	disc    discovery.DiscoveryInterface
	factory dynamicinformer.DynamicSharedInformerFactory
	// informers has an informer for each resource the apiserver serves, set by start; a
	// resource whose CRD is not installed has none and is served as no objects.
	informers map[string]cache.SharedIndexInformer

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{} // by namespace
}

func newPolicyWatch(client dynamic.Interface, disc discovery.DiscoveryInterface, log *slog.Logger) *policyWatch {
	return &policyWatch{
		log: log, disc: disc,
		factory:   dynamicinformer.NewDynamicSharedInformerFactory(client, 0),
		informers: map[string]cache.SharedIndexInformer{},
		subs:      map[string]map[chan struct{}]struct{}{},
	}
}

// start starts an informer for each policy resource the apiserver serves and returns once
// their caches are filled. A resource it does not serve (its CRD is not installed) is logged
// and served as empty: the rest of the service works without policy. A CRD installed later
// is seen after a restart.
func (w *policyWatch) start(ctx context.Context) error {
	served := map[string]bool{}
	list, err := w.disc.ServerResourcesForGroupVersion(policyv1alpha1.GroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("discovering %s: %w", policyv1alpha1.GroupVersion, err)
	default:
		for _, r := range list.APIResources {
			served[r.Name] = true
		}
	}
	var missing []string
	for _, res := range policyResources {
		if !served[res] {
			missing = append(missing, res)
			continue
		}
		inf := w.factory.ForResource(policyv1alpha1.GroupVersion.WithResource(res)).Informer()
		if err := inf.SetTransform(slimPolicy); err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(w.handler()); err != nil {
			return err
		}
		w.informers[res] = inf
	}
	if len(missing) > 0 {
		w.log.Warn("policy CRDs not installed: proxies get no such objects, and their default policy decides; install them and restart to enforce them",
			"group", policyv1alpha1.GroupVersion.Group, "missing", strings.Join(missing, ","))
	}
	w.factory.Start(ctx.Done())
	context.AfterFunc(ctx, w.factory.Shutdown)
	for gvr, ok := range w.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("the cache of %v did not sync: %w", gvr, context.Cause(ctx))
		}
	}
	return nil
}

// slimPolicy drops what no proxy reads and every object carries.
func slimPolicy(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations", corev1.LastAppliedConfigAnnotation)
	}
	return obj, nil
}

// handler wakes the streams of the namespace of each object that changed.
func (w *policyWatch) handler() cache.ResourceEventHandler {
	on := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			ns, _, _ := cache.SplitMetaNamespaceKey(d.Key)
			w.wake(ns)
			return
		}
		if u, ok := obj.(*unstructured.Unstructured); ok {
			w.wake(u.GetNamespace())
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    on,
		UpdateFunc: func(_, obj any) { on(obj) },
		DeleteFunc: on,
	}
}

func (w *policyWatch) wake(namespace string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[namespace] {
		select {
		case ch <- struct{}{}:
		default: // one pending signal is enough: the stream reads the latest state
		}
	}
}

// subscribe returns a channel signalled when an object of namespace changes, and the
// function that ends the subscription.
func (w *policyWatch) subscribe(namespace string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs[namespace] == nil {
		w.subs[namespace] = map[chan struct{}]struct{}{}
	}
	w.subs[namespace][ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs[namespace], ch)
		if len(w.subs[namespace]) == 0 {
			delete(w.subs, namespace)
		}
	}
}

// objects returns the JSON of the namespace's policy objects, as PolicyUpdate.objects
// describes: each list sorted by name, so that the same objects give the same bytes.
func (w *policyWatch) objects(namespace string) ([]byte, error) {
	var objs policy.Objects
	if err := listInto(w.informers[resServers], namespace, &objs.Servers); err != nil {
		return nil, err
	}
	if err := listInto(w.informers[resAuthorizationPolicies], namespace, &objs.AuthorizationPolicies); err != nil {
		return nil, err
	}
	if err := listInto(w.informers[resMeshTLSAuthentications], namespace, &objs.MeshTLSAuthentications); err != nil {
		return nil, err
	}
	if err := listInto(w.informers[resNetworkAuthentications], namespace, &objs.NetworkAuthentications); err != nil {
		return nil, err
	}
	return json.Marshal(objs)
}

// listInto converts the objects of namespace in inf's cache (none when inf is nil) into
// out, sorted by name.
func listInto[T any](inf cache.SharedIndexInformer, namespace string, out *[]T) error {
	if inf == nil {
		return nil
	}
	items, err := inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		return err
	}
	us := make([]*unstructured.Unstructured, 0, len(items))
	for _, it := range items {
		if u, ok := it.(*unstructured.Unstructured); ok {
			us = append(us, u)
		}
	}
	slices.SortFunc(us, func(a, b *unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	*out = make([]T, len(us))
	for i, u := range us {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &(*out)[i]); err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// GetPolicy streams the policy objects of the namespace asked for: all of them at once, and
// again after every change (a burst coalesced), until the client goes away.
func (s *Server) GetPolicy(req *destinationv1.GetPolicyRequest, stream grpc.ServerStreamingServer[destinationv1.PolicyUpdate]) error {
	ctx := stream.Context()
	ns := req.GetNamespace()
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return status.Errorf(codes.InvalidArgument, "namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	select {
	case <-s.x.synced:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	notify, cancel := s.p.subscribe(ns)
	defer cancel()
	log := s.opts.Log.With("policy", ns, "peer", peerOf(ctx))
	log.Debug("subscribed")
	var last []byte
	for {
		b, err := s.p.objects(ns)
		if err != nil {
			log.Error("reading policy objects", "error", err)
			return status.Errorf(codes.Internal, "reading the policy objects of %s: %v", ns, err)
		}
		if last == nil || !bytes.Equal(b, last) {
			if err := stream.Send(&destinationv1.PolicyUpdate{Objects: b}); err != nil {
				log.Debug("stream ended", "error", err)
				return err
			}
			last = b
		}
		select {
		case <-notify:
		case <-ctx.Done():
			log.Debug("unsubscribed")
			return nil
		}
		t := time.NewTimer(policyCoalesce)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}
