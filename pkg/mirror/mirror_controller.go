package mirror

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// mirrorReconciler keeps the mirrors of one remote Service of one Link equal to what the
// remote exports.
type mirrorReconciler struct {
	client     client.Client
	remotes    *remotes
	gateways   *gatewayProbes
	statuses   *statuses
	reconciled func(string)
}

var _ reconcile.TypedReconciler[mirrorKey] = (*mirrorReconciler)(nil)

func (r *mirrorReconciler) Reconcile(ctx context.Context, key mirrorKey) (res reconcile.Result, err error) {
	start := time.Now()
	defer func() {
		reconcileSeconds.WithLabelValues(key.Link.String()).Observe(time.Since(start).Seconds())
		if err == nil && r.reconciled != nil {
			r.reconciled(key.String())
		}
	}()

	var link mcv1alpha1.Link
	if err := r.client.Get(ctx, key.Link, &link); err != nil {
		// A Link being deleted cleans its own mirrors; one gone has nothing to mirror into.
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !link.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	rem, state := r.remotes.stateOf(key.Link)
	switch state {
	case remoteStarting:
		// Nothing is known yet, which is no reason to change anything: the link controller
		// enqueues every Service of the Link once the remote is synced.
		return reconcile.Result{}, nil
	case remoteUnreachable:
		return reconcile.Result{}, r.markNotReady(ctx, key)
	}

	remoteSvc, err := readRemote(ctx, rem, key)
	if err != nil {
		return reconcile.Result{}, err
	}
	mode, why := wanted(&link, remoteSvc)
	member, imported := false, false
	if why == nil {
		member, why = isMember(&link, remoteSvc)
	}
	if why == nil {
		imported, why = isImported(&link, remoteSvc)
	}
	if (mode == viaGateway || member || (imported && mode != remoteDiscovery)) && !r.gateways.alive(key.Link) {
		// The way to the remote's pods is down: its mirrors stay, their endpoints not ready.
		remoteSvc.Healthy = false
	}
	if mode == notExported && !member && !imported && why == nil {
		r.statuses.forget(key)
		if err := r.prune(ctx, key, nil); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, r.leaveFederated(ctx, key)
	}
	set := &mirrorSet{}
	if why == nil && mode != notExported {
		set, why = desiredMirrors(&link, key, mode, remoteSvc)
	}
	if why == nil && member {
		set.Federated, why = desiredMember(federatedKind, &link, key, remoteSvc)
	}
	if why == nil && imported {
		set.Import, why = desiredMember(importKind, &link, key, remoteSvc)
	}
	if why == nil {
		why = r.ensureNamespace(ctx, &link, key.Namespace)
	}
	if why == nil {
		why = r.apply(ctx, &link, key, set, remoteSvc.Healthy)
	}
	var nm *notMirrored
	if errors.As(why, &nm) {
		// Not an error to retry: the Link says why, and what is mirrored stays.
		r.statuses.set(key, "", metav1.ConditionFalse, nm.Reason, nm.Message)
		return reconcile.Result{}, nil
	}
	if why != nil {
		r.statuses.set(key, "", metav1.ConditionUnknown, "Error", why.Error())
		return reconcile.Result{}, why
	}
	mirror, message := set.describe()
	r.statuses.set(key, mirror, metav1.ConditionTrue, "Mirrored", message)
	if mode == remoteDiscovery && remoteSvc.MissingPods {
		// Endpoints whose pods are not read yet wait, not ready, rather than go out with
		// no identity.
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// describe names what set makes here, for the Link's status.
func (set *mirrorSet) describe() (mirror, message string) {
	var parts []string
	if set.Service != nil {
		mirror = set.Service.Name
		parts = append(parts, "mirrored as "+set.Service.Name)
	}
	for _, m := range []*memberPart{set.Federated, set.Import} {
		if m == nil {
			continue
		}
		if mirror == "" {
			mirror = m.Service
		}
		parts = append(parts, "a member of "+m.Service)
	}
	return mirror, strings.Join(parts, ", and ")
}

// leaveFederated takes key out of its federated Service, if it was in one.
func (r *mirrorReconciler) leaveFederated(ctx context.Context, key mirrorKey) error {
	name, err := federatedName(key.Name)
	if err != nil {
		return nil // no federated Service can have that name
	}
	return syncFederated(ctx, r.client, key, name, nil)
}

// readRemote reads one Service of the remote, its export and its endpoints, from the cache.
func readRemote(ctx context.Context, rem *remote, key mirrorKey) (remoteService, error) {
	out := remoteService{Healthy: true}
	rd := rem.reader()
	var svc corev1.Service
	switch err := rd.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: key.Name}, &svc); {
	case apierrors.IsNotFound(err):
		return out, nil
	case err != nil:
		return out, fmt.Errorf("reading remote Service %s/%s: %w", key.Namespace, key.Name, err)
	}
	out.Service = &svc
	if rem.hasExports {
		var se mcsv1alpha1.ServiceExport
		err := rd.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: key.Name}, &se)
		if err != nil && !apierrors.IsNotFound(err) {
			return out, err
		}
		if err == nil {
			out.HasServiceExport, out.Export = true, &se
		}
	}
	var slices discoveryv1.EndpointSliceList
	if err := rd.List(ctx, &slices, client.InNamespace(key.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: key.Name}); err != nil {
		return out, err
	}
	out.Slices = slices.Items
	out.Pods = map[string]*corev1.Pod{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || len(ep.Addresses) == 0 {
				continue
			}
			var pod corev1.Pod
			switch err := rd.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: ep.TargetRef.Name}, &pod); {
			case apierrors.IsNotFound(err):
				out.MissingPods = true // its event comes on another watch: look again shortly
			case err != nil:
				return out, err
			default:
				out.Pods[ep.Addresses[0]] = &pod
			}
		}
	}
	return out, nil
}

func (r *mirrorReconciler) ensureNamespace(ctx context.Context, link *mcv1alpha1.Link, ns string) error {
	var n corev1.Namespace
	err := r.client.Get(ctx, types.NamespacedName{Name: ns}, &n)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	if !link.Spec.CreateMissingNamespaces {
		return &notMirrored{"NamespaceMissing", fmt.Sprintf("namespace %s does not exist here: create it, or set spec.createMissingNamespaces on the Link", ns)}
	}
	n = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{mcv1alpha1.LabelLink: linkLabel(types.NamespacedName{Namespace: link.Namespace, Name: link.Name})}}}
	if err := r.client.Create(ctx, &n); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// apply makes the local mirrors equal to set and removes those it no longer holds.
func (r *mirrorReconciler) apply(ctx context.Context, link *mcv1alpha1.Link, key mirrorKey, set *mirrorSet, healthy bool) error {
	keep := map[string]bool{}
	if set.Federated != nil {
		if err := syncFederated(ctx, r.client, key, set.Federated.Service, set.Federated); err != nil {
			return err
		}
		for _, s := range set.Federated.Slices {
			if err := r.applySlice(ctx, key, s); err != nil {
				return err
			}
			keep["EndpointSlice/"+s.Name] = true
		}
	} else if err := r.leaveFederated(ctx, key); err != nil {
		return err
	}
	var slices []*discoveryv1.EndpointSlice
	if set.Service != nil {
		svc, err := r.applyService(ctx, key, set.Service)
		if err != nil {
			return err
		}
		keep["Service/"+svc.Name] = true
		var pods []*corev1.Service
		for _, p := range set.PodServices {
			cur, err := r.applyService(ctx, key, p)
			if err != nil {
				return err
			}
			keep["Service/"+cur.Name] = true
			pods = append(pods, cur)
		}
		slices = set.Slices
		if set.HeadlessGateway {
			podSlice := headlessSlice(link, key, set.Service, pods, healthy)
			slices = append(slices, podSlice)
			if set.Import != nil {
				set.Import.Slices = headlessMember(set.Import.Slices, podSlice)
			}
		}
	}
	if set.Import != nil {
		// The ServiceImport and its derived Service follow from these slices: the clusterset
		// controller sees them change (clusterset.go).
		slices = append(slices, set.Import.Slices...)
	}
	for _, s := range slices {
		if err := r.applySlice(ctx, key, s); err != nil {
			return err
		}
		keep["EndpointSlice/"+s.Name] = true
	}
	return r.prune(ctx, key, keep)
}

func owned(obj client.Object, key mirrorKey) bool {
	l := obj.GetLabels()
	return l[mcv1alpha1.LabelLink] == linkLabel(key.Link) && l[mcv1alpha1.LabelRemoteName] == key.Name
}

// applyService creates or updates one mirror Service, and writes nothing when it is as wanted.
func (r *mirrorReconciler) applyService(ctx context.Context, key mirrorKey, want *corev1.Service) (*corev1.Service, error) {
	// Without a selector nothing reads targetPort, but the apiserver defaults it to the port:
	// saying so keeps the comparison below honest.
	for i := range want.Spec.Ports {
		want.Spec.Ports[i].TargetPort = intstr.FromInt32(want.Spec.Ports[i].Port)
		if want.Spec.Ports[i].Protocol == "" {
			want.Spec.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	if want.Spec.SessionAffinity == "" {
		want.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	var cur corev1.Service
	err := r.client.Get(ctx, client.ObjectKeyFromObject(want), &cur)
	if apierrors.IsNotFound(err) {
		if err := r.client.Create(ctx, want); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, conflict("Service", want)
			}
			return nil, err
		}
		return want, nil
	}
	if err != nil {
		return nil, err
	}
	if !owned(&cur, key) {
		return nil, conflict("Service", want)
	}
	if (cur.Spec.ClusterIP == corev1.ClusterIPNone) != (want.Spec.ClusterIP == corev1.ClusterIPNone) {
		// A Service's cluster IP cannot change: a remote that turned headless, or stopped
		// being so, gets a new mirror.
		if err := r.client.Delete(ctx, &cur); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		return nil, fmt.Errorf("mirror %s/%s changed headlessness: recreating", want.Namespace, want.Name)
	}
	if serviceUpToDate(&cur, want) {
		return &cur, nil
	}
	cur.Labels, cur.Annotations = want.Labels, want.Annotations
	cur.Spec.Ports = want.Spec.Ports
	cur.Spec.SessionAffinity, cur.Spec.SessionAffinityConfig = want.Spec.SessionAffinity, want.Spec.SessionAffinityConfig
	if err := r.client.Update(ctx, &cur); err != nil {
		return nil, err
	}
	return &cur, nil
}

func serviceUpToDate(cur, want *corev1.Service) bool {
	return apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(cur.Annotations, want.Annotations) &&
		apiequality.Semantic.DeepEqual(cur.Spec.Ports, want.Spec.Ports) &&
		cur.Spec.SessionAffinity == want.Spec.SessionAffinity &&
		(want.Spec.SessionAffinityConfig == nil || apiequality.Semantic.DeepEqual(cur.Spec.SessionAffinityConfig, want.Spec.SessionAffinityConfig))
}

func (r *mirrorReconciler) applySlice(ctx context.Context, key mirrorKey, want *discoveryv1.EndpointSlice) error {
	return applySlice(ctx, r.client, want, func(obj client.Object) bool { return owned(obj, key) })
}

// applySlice creates or updates one EndpointSlice that mine says is the caller's, and writes
// nothing when it is as wanted. A slice of that name that is not the caller's is a conflict;
// one of another address type (immutable) is deleted, and its deletion's event brings the
// pass that makes it anew.
func applySlice(ctx context.Context, c client.Client, want *discoveryv1.EndpointSlice, mine func(client.Object) bool) error {
	var cur discoveryv1.EndpointSlice
	err := c.Get(ctx, client.ObjectKeyFromObject(want), &cur)
	if apierrors.IsNotFound(err) {
		if err := c.Create(ctx, want); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return conflict("EndpointSlice", want)
			}
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !mine(&cur) {
		return conflict("EndpointSlice", want)
	}
	if cur.AddressType != want.AddressType {
		return client.IgnoreNotFound(c.Delete(ctx, &cur))
	}
	if apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(cur.Annotations, want.Annotations) &&
		apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) &&
		apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) {
		return nil
	}
	cur.Labels, cur.Annotations, cur.Endpoints, cur.Ports = want.Labels, want.Annotations, want.Endpoints, want.Ports
	return c.Update(ctx, &cur)
}

func conflict(kind string, obj client.Object) error {
	return &notMirrored{"NameConflict", fmt.Sprintf("a %s %s/%s exists here and is not this Link's mirror: rename or remove it", kind, obj.GetNamespace(), obj.GetName())}
}

// prune deletes the mirrors of key not in keep (all of them when keep is nil).
func (r *mirrorReconciler) prune(ctx context.Context, key mirrorKey, keep map[string]bool) error {
	return deleteMirrors(ctx, r.client, ownedBy(key), keep)
}

// mirrorIndex indexes the cached mirrors by the remote Service they stand for, so that
// finding one export's mirrors costs a lookup, not a scan of every mirror of its namespace.
const mirrorIndex = "meshfed.mirrorOf"

func mirrorIndexValue(link, remoteName string) string { return link + "/" + remoteName }

func indexMirror(obj client.Object) []string {
	l := obj.GetLabels()
	if l[mcv1alpha1.LabelLink] == "" || l[mcv1alpha1.LabelRemoteName] == "" {
		return nil
	}
	return []string{mirrorIndexValue(l[mcv1alpha1.LabelLink], l[mcv1alpha1.LabelRemoteName])}
}

// ownedBy selects the mirrors of key from the cache.
func ownedBy(key mirrorKey) []client.ListOption {
	return []client.ListOption{client.InNamespace(key.Namespace), client.MatchingFields{mirrorIndex: mirrorIndexValue(linkLabel(key.Link), key.Name)}}
}

// deleteMirrors deletes the Services and EndpointSlices opts select, but for those keep
// holds as "Service/<name>" or "EndpointSlice/<name>".
func deleteMirrors(ctx context.Context, c client.Client, opts []client.ListOption, keep map[string]bool) error {
	for kind, list := range map[string]client.ObjectList{"EndpointSlice": &discoveryv1.EndpointSliceList{}, "Service": &corev1.ServiceList{}} {
		if err := c.List(ctx, list, opts...); err != nil {
			return err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, item := range items {
			obj := item.(client.Object)
			if keep[kind+"/"+obj.GetName()] {
				continue
			}
			if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// markNotReady keeps every mirror of key and marks its endpoints not ready: the remote
// cannot be reached, which is no reason to believe its services are gone.
func (r *mirrorReconciler) markNotReady(ctx context.Context, key mirrorKey) error {
	var slices discoveryv1.EndpointSliceList
	if err := r.client.List(ctx, &slices, ownedBy(key)...); err != nil {
		return err
	}
	for i := range slices.Items {
		s := &slices.Items[i]
		changed := false
		for j := range s.Endpoints {
			if c := s.Endpoints[j].Conditions.Ready; c == nil || *c {
				f := false
				s.Endpoints[j].Conditions.Ready = &f
				changed = true
			}
		}
		if changed {
			if err := r.client.Update(ctx, s); err != nil {
				return err
			}
		}
	}
	return nil
}
