package mirror

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// The clusterset controller, keyed by the namespace and name of a clusterset service, makes
// here what KEP-1645 says an importing cluster has: a ServiceImport, and behind it a Service
// "<name>-clusterset" whose cluster IP is the ClusterSetIP and whose EndpointSlices are the
// members', each labelled multicluster.kubernetes.io/service-name and source-cluster. The
// linked clusters' members' slices are the mirror controller's (desiredMember, one per Link,
// at that cluster's gateway, as a federated Service's); this controller adds this cluster's
// own member (a copy of its exported Service's endpoints, so kube-proxy and the destination
// service reach them directly) and the ServiceImport, and resolves the members' conflicts.
// It also writes this cluster's ServiceExport's conditions: Valid, and Conflict, which needs
// the linked clusters' exports, read from the very slices the import is made of.
//
// The ClusterSetIP is the derived Service's cluster IP, taken from a range of its own, the
// ServiceCIDRs labelled for it, and allocated by this cluster's apiserver (clusterset_ips.go):
// the apiserver makes it unique, kube-proxy routes it with no machinery of ours.

// clustersetReconciler keeps the ServiceImport of one clusterset service equal to its members.
type clustersetReconciler struct {
	client client.Client
	// clusterName is this cluster's name when it has no ClusterProperty saying it.
	clusterName string
	// properties says whether the ClusterProperty API is served here; serviceCIDRs the
	// ServiceCIDR and IPAddress APIs (networking.k8s.io/v1, Kubernetes 1.33+).
	properties, serviceCIDRs bool
	// reserved are the ClusterSetIPs asked for that the cache may not show taken yet.
	reserved reservedIPs
}

// clustersetScope is what one reconcile learns, phase by phase.
type clustersetScope struct {
	key types.NamespacedName
	// derived is the derived Service's name; nameErr says why there can be none.
	derived string
	nameErr error
	// cluster is this cluster's name; "" when unknown.
	cluster string
	// export and service are this cluster's own, if any.
	export  *mcsv1alpha1.ServiceExport
	service *corev1.Service
	// valid is the Valid condition of export; local is its member when valid.
	valid metav1.Condition
	local *clustersetMember
	// remote are the linked clusters' members, from their slices here.
	remote []clustersetMember
	res    resolution
	// importErr says why the import could not be written (a name taken by someone else).
	importErr *notMirrored
	// rangesServed says whether this cluster has ServiceCIDRs; ranges are those labelled for
	// ClusterSetIPs, ipErr why the derived Service has no ClusterSetIP (set by applyImport).
	rangesServed bool
	ranges       []ipRange
	ipErr        *noClusterSetIP
}

func (r *clustersetReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	s := &clustersetScope{key: req.NamespacedName, rangesServed: r.serviceCIDRs}
	s.derived, s.nameErr = importKind.unitedName(req.Name)
	for _, phase := range []func(context.Context, *clustersetScope) error{r.readLocal, r.readRemote} {
		if err := phase(ctx, s); err != nil {
			return reconcile.Result{}, err
		}
	}
	members := s.remote
	if s.local != nil {
		members = append(members, *s.local)
	}
	s.res = resolve(members)
	var err error
	if len(members) == 0 || s.nameErr != nil {
		err = r.deleteImport(ctx, s)
	} else {
		err = r.applyImport(ctx, s)
	}
	var nm *notMirrored
	if errors.As(err, &nm) {
		s.importErr, err = nm, nil
	}
	return reconcile.Result{}, errors.Join(err, r.writeExportStatus(ctx, s))
}

// readLocal reads this cluster's name, ServiceExport and Service, and decides whether this
// cluster is a member.
func (r *clustersetReconciler) readLocal(ctx context.Context, s *clustersetScope) error {
	s.cluster = r.clusterName
	if r.properties {
		var p aboutv1alpha1.ClusterProperty
		switch err := r.client.Get(ctx, types.NamespacedName{Name: aboutv1alpha1.ClusterIDProperty}, &p); {
		case err == nil:
			s.cluster = p.Spec.Value
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("reading ClusterProperty %s: %w", aboutv1alpha1.ClusterIDProperty, err)
		}
	}
	var se mcsv1alpha1.ServiceExport
	switch err := r.client.Get(ctx, s.key, &se); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading ServiceExport %s: %w", s.key, err)
	}
	s.export = &se
	var svc corev1.Service
	switch err := r.client.Get(ctx, s.key, &svc); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading Service %s: %w", s.key, err)
	default:
		s.service = &svc
	}
	s.valid = validCondition(s)
	if s.valid.Status == metav1.ConditionTrue {
		s.local = &clustersetMember{Cluster: s.cluster, Local: true, Export: exportOf(s.export, s.service), Ports: s.service.Spec.Ports}
	}
	return nil
}

// readRemote reads the linked clusters' members from their slices here. A slice whose
// annotations do not read whole is left out: its Link's next pass writes it again.
func (r *clustersetReconciler) readRemote(ctx context.Context, s *clustersetScope) error {
	if s.nameErr != nil {
		return nil
	}
	var slices discoveryv1.EndpointSliceList
	if err := r.client.List(ctx, &slices, client.InNamespace(s.key.Namespace), client.MatchingLabels{
		discoveryv1.LabelServiceName:    s.derived,
		mcsv1alpha1.LabelServiceName:    s.key.Name,
		mcv1alpha1.LabelMirroredService: "true",
	}); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, sl := range slices.Items {
		// The Links' slices (at a gateway, or flat at the remote pods), not this cluster's.
		cluster := sl.Labels[mcsv1alpha1.LabelSourceCluster]
		if sl.Labels[mcv1alpha1.LabelLink] == "" || seen[cluster] || cluster == "" || cluster == s.cluster {
			continue // one member per cluster, whatever its address types
		}
		e, err := mcv1alpha1.ParseExport(sl.Annotations[mcv1alpha1.AnnotationExport])
		if err != nil {
			continue
		}
		seen[cluster] = true
		s.remote = append(s.remote, clustersetMember{Cluster: cluster, Export: e, Ports: mcv1alpha1.ParseRemotePorts(sl.Annotations[mcv1alpha1.AnnotationRemotePorts])})
	}
	return nil
}

// clustersetLabels are the labels of everything this controller makes for key.
func clustersetLabels(key types.NamespacedName) map[string]string {
	return map[string]string{
		mcv1alpha1.LabelMirroredService: "true",
		mcsv1alpha1.LabelServiceName:    key.Name,
	}
}

// ownedByClusterset says whether obj is the clusterset controller's for key.
func ownedByClusterset(obj client.Object, key types.NamespacedName) bool {
	l := obj.GetLabels()
	return l[mcv1alpha1.LabelMirroredService] == "true" && l[mcsv1alpha1.LabelServiceName] == key.Name && l[mcv1alpha1.LabelLink] == ""
}

// derivedService is the Service behind the ServiceImport.
func derivedService(s *clustersetScope) *corev1.Service {
	lbls := clustersetLabels(s.key)
	// The destination service routes it as it routes a federated Service.
	lbls[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeFederated
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.derived, Namespace: s.key.Namespace, Labels: lbls},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			Ports:           s.res.Ports,
			SessionAffinity: s.res.SessionAffinity,
		},
	}
	if s.res.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if s.res.SessionAffinity == corev1.ServiceAffinityClientIP {
		timeout := s.res.AffinityTimeout
		if timeout == 0 {
			timeout = corev1.DefaultClientIPServiceAffinitySeconds
		}
		svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(timeout)}}
	}
	return svc
}

// applyImport makes the derived Service, this cluster's member's slices and the
// ServiceImport equal to the resolution. A derived Service that cannot have a ClusterSetIP
// is not made; the ServiceImport is, with no IP, its Ready condition saying why.
func (r *clustersetReconciler) applyImport(ctx context.Context, s *clustersetScope) error {
	want := derivedService(s)
	if s.rangesServed && !s.res.Headless {
		var err error
		s.ranges, err = r.readRanges(ctx)
		if !errors.As(err, &s.ipErr) && err != nil {
			return err
		}
	}
	var cur corev1.Service
	derived := &cur
	err := r.client.Get(ctx, client.ObjectKeyFromObject(want), &cur)
	switch {
	case apierrors.IsNotFound(err):
		made, err := r.createDerived(ctx, s, want)
		if !errors.As(err, &s.ipErr) && err != nil {
			return err
		}
		derived = made
	case err != nil:
		return err
	case !ownedByClusterset(&cur, s.key):
		return conflict("Service", want)
	case (cur.Spec.ClusterIP == corev1.ClusterIPNone) != s.res.Headless:
		// A cluster IP cannot change: the import changed type, so the Service is made anew.
		if err := r.client.Delete(ctx, &cur); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return fmt.Errorf("the derived Service %s/%s changed type: recreating it", want.Namespace, want.Name)
	case !serviceUpToDate(&cur, want):
		cur.Labels = want.Labels
		cur.Spec.Ports, cur.Spec.SessionAffinity, cur.Spec.SessionAffinityConfig = want.Spec.Ports, want.Spec.SessionAffinity, want.Spec.SessionAffinityConfig
		if err := r.client.Update(ctx, &cur); err != nil {
			return err
		}
	}
	if err := r.applyLocalSlices(ctx, s); err != nil {
		return err
	}
	if derived == nil {
		derived = want // no cluster IP: the ServiceImport has none
	}
	return r.applyServiceImport(ctx, s, derived)
}

// createDerived creates the derived Service: with a ClusterSetIP from s.ranges where this
// cluster has ServiceCIDRs, else with whatever the apiserver gives. It returns nil and
// s.ipErr's cause when there is no range to take from.
func (r *clustersetReconciler) createDerived(ctx context.Context, s *clustersetScope, want *corev1.Service) (*corev1.Service, error) {
	if s.ipErr != nil {
		return nil, s.ipErr
	}
	if !s.rangesServed || s.res.Headless {
		if err := r.client.Create(ctx, want); err != nil {
			return nil, err
		}
		return want, nil
	}
	taken, err := r.takenAddresses(ctx)
	if err != nil {
		return nil, err
	}
	return createWithClusterSetIP(ctx, r.client, want, s.ranges, taken, &r.reserved)
}

// applyLocalSlices copies this cluster's member's endpoints into slices of the derived
// Service, one per address type, their ports renamed to the derived Service's (kube-proxy
// matches them by name); with no local member, there are none.
func (r *clustersetReconciler) applyLocalSlices(ctx context.Context, s *clustersetScope) error {
	var want []*discoveryv1.EndpointSlice
	if s.local != nil {
		var own discoveryv1.EndpointSliceList
		if err := r.client.List(ctx, &own, client.InNamespace(s.key.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: s.key.Name}); err != nil {
			return err
		}
		want = localSlices(s, own.Items)
	}
	keep := map[string]bool{}
	mine := func(obj client.Object) bool { return ownedByClusterset(obj, s.key) }
	for _, w := range want {
		keep[w.Name] = true
		if err := applySlice(ctx, r.client, w, mine); err != nil {
			return err
		}
	}
	return r.deleteLocalSlices(ctx, s, keep)
}

// localSlices are this cluster's member's slices of the derived Service.
func localSlices(s *clustersetScope, own []discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	// The local Service's port name -> the derived Service's port of the same number.
	rename := map[string]corev1.ServicePort{}
	for _, p := range s.service.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		for _, u := range s.res.Ports {
			if u.Port == p.Port && u.Protocol == proto {
				rename[p.Name] = u
			}
		}
	}
	var served []corev1.ServicePort
	for _, u := range rename {
		served = append(served, u)
	}
	sort.Slice(served, func(i, j int) bool { return served[i].Port < served[j].Port })
	byType := map[discoveryv1.AddressType]*discoveryv1.EndpointSlice{}
	for _, o := range sortedSlices(own) {
		if o.AddressType == discoveryv1.AddressTypeFQDN || ownedByClusterset(&o, s.key) {
			continue
		}
		out, ok := byType[o.AddressType]
		if !ok {
			lbls := clustersetLabels(s.key)
			lbls[discoveryv1.LabelServiceName] = s.derived
			lbls[discoveryv1.LabelManagedBy] = managedBy
			lbls[mcsv1alpha1.LabelSourceCluster] = s.cluster
			lbls[mcv1alpha1.LabelClusterName] = s.cluster
			lbls[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeLocal
			out = &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Name: s.derived + "-" + s.cluster + "-" + typeSuffix(o.AddressType), Namespace: s.key.Namespace, Labels: lbls,
					Annotations: map[string]string{mcv1alpha1.AnnotationRemotePorts: mcv1alpha1.FormatRemotePorts(served)},
				},
				AddressType: o.AddressType,
			}
			for _, p := range o.Ports {
				name := ""
				if p.Name != nil {
					name = *p.Name
				}
				if u, ok := rename[name]; ok {
					out.Ports = append(out.Ports, discoveryv1.EndpointPort{Name: ptr.To(u.Name), Protocol: p.Protocol, Port: p.Port, AppProtocol: p.AppProtocol})
				}
			}
			byType[o.AddressType] = out
		}
		for _, ep := range o.Endpoints {
			out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{
				Addresses: ep.Addresses, Conditions: ep.Conditions, Hostname: ep.Hostname,
				TargetRef: ep.TargetRef, NodeName: ep.NodeName, Zone: ep.Zone,
			})
		}
	}
	var out []*discoveryv1.EndpointSlice
	for _, t := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		if sl, ok := byType[t]; ok {
			sort.SliceStable(sl.Endpoints, func(i, j int) bool { return sl.Endpoints[i].Addresses[0] < sl.Endpoints[j].Addresses[0] })
			out = append(out, sl)
		}
	}
	return out
}

// deleteLocalSlices deletes this controller's slices for key not in keep.
func (r *clustersetReconciler) deleteLocalSlices(ctx context.Context, s *clustersetScope, keep map[string]bool) error {
	var mine discoveryv1.EndpointSliceList
	if err := r.client.List(ctx, &mine, client.InNamespace(s.key.Namespace), client.MatchingLabels{
		mcsv1alpha1.LabelServiceName: s.key.Name, mcv1alpha1.LabelMirrorMode: mcv1alpha1.MirrorModeLocal,
	}); err != nil {
		return err
	}
	for i := range mine.Items {
		sl := &mine.Items[i]
		if keep[sl.Name] || !ownedByClusterset(sl, s.key) {
			continue
		}
		if err := r.client.Delete(ctx, sl); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// applyServiceImport writes the ServiceImport: its spec from the resolution and the derived
// Service's cluster IPs, its status the clusters exporting.
func (r *clustersetReconciler) applyServiceImport(ctx context.Context, s *clustersetScope, derived *corev1.Service) error {
	spec := mcsv1alpha1.ServiceImportSpec{
		Type:            mcsv1alpha1.ServiceImportType(s.res.importType()),
		SessionAffinity: s.res.SessionAffinity,
	}
	if !s.res.Headless {
		spec.IPs = derived.Spec.ClusterIPs
		if len(spec.IPs) == 0 && derived.Spec.ClusterIP != "" {
			spec.IPs = []string{derived.Spec.ClusterIP}
		}
	}
	if derived.Spec.SessionAffinityConfig != nil {
		spec.SessionAffinityConfig = derived.Spec.SessionAffinityConfig.DeepCopy()
	}
	for _, p := range s.res.Ports {
		spec.Ports = append(spec.Ports, mcsv1alpha1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port})
	}
	var clusters []mcsv1alpha1.ClusterStatus
	for _, m := range s.res.Members {
		clusters = append(clusters, mcsv1alpha1.ClusterStatus{Cluster: m.Cluster})
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].Cluster < clusters[j].Cluster })

	var cur mcsv1alpha1.ServiceImport
	err := r.client.Get(ctx, s.key, &cur)
	switch {
	case apierrors.IsNotFound(err):
		cur = mcsv1alpha1.ServiceImport{ObjectMeta: metav1.ObjectMeta{Name: s.key.Name, Namespace: s.key.Namespace, Labels: clustersetLabels(s.key)}, Spec: spec}
		if err := r.client.Create(ctx, &cur); err != nil {
			return err
		}
	case err != nil:
		return err
	case !ownedByClusterset(&cur, s.key):
		return &notMirrored{"NameConflict", fmt.Sprintf("a ServiceImport %s exists here and is not meshfed's: remove it, or the other implementation of the MCS API", s.key)}
	case !apiequality.Semantic.DeepEqual(cur.Spec, spec):
		cur.Spec = spec
		if err := r.client.Update(ctx, &cur); err != nil {
			return err
		}
	}
	status := *cur.Status.DeepCopy()
	status.Clusters = clusters
	ready := readyCondition(s, derived)
	ready.ObservedGeneration = cur.Generation
	meta.SetStatusCondition(&status.Conditions, ready)
	if apiequality.Semantic.DeepEqual(cur.Status, status) {
		return nil
	}
	base := cur.DeepCopy()
	cur.Status = status
	// A patch, not an update: the status is all this controller's, and the cache may not
	// hold its own last write yet, so an update's resourceVersion would be refused for
	// nothing and the import wait out a retry.
	if err := r.client.Status().Patch(ctx, &cur, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("writing the status of ServiceImport %s: %w", s.key, err)
	}
	return nil
}

// deleteImport removes the ServiceImport, its derived Service and this cluster's slices of
// it: no cluster exports the service any more (the linked clusters' slices are their Links').
func (r *clustersetReconciler) deleteImport(ctx context.Context, s *clustersetScope) error {
	var si mcsv1alpha1.ServiceImport
	switch err := r.client.Get(ctx, s.key, &si); {
	case err == nil && ownedByClusterset(&si, s.key):
		if err := r.client.Delete(ctx, &si); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	if s.nameErr != nil {
		return nil // no derived Service can have had that name
	}
	var svc corev1.Service
	switch err := r.client.Get(ctx, types.NamespacedName{Namespace: s.key.Namespace, Name: s.derived}, &svc); {
	case err == nil && ownedByClusterset(&svc, s.key):
		if err := r.client.Delete(ctx, &svc); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	return r.deleteLocalSlices(ctx, s, nil)
}
