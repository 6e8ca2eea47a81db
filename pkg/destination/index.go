package destination

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// Informer index names.
const (
	byClusterIP = "clusterIP" // Services by each of their ClusterIPs
	byService   = "service"   // EndpointSlices by <namespace>/<service>
	byPodIP     = "podIP"     // pods by each of their IPs, host-network pods left out
)

type serviceKey = types.NamespacedName

// serviceState is the state of one Service, shared by all its subscribers: a view per port
// asked for, and the pods its endpoints point at.
type serviceState struct {
	views map[int32]*view
	pods  map[types.NamespacedName]struct{}
}

// ipState is what is watched at one IP: the address subscribers asking about it (on any
// port), resolved again whenever a Service or pod there changes, and the views of the pod
// there, by port.
type ipState struct {
	views map[uint16]*view
	subs  map[*subscriber]struct{}
}

// queueKey is a unit of work: recompute one Service, or one IP.
type queueKey struct {
	service serviceKey
	ip      netip.Addr
}

// subscriber is one Get stream.
type subscriber struct {
	target target
	// notify is signalled, without blocking, when the view changes or is replaced; one
	// pending signal is enough, as the stream reads the latest state when it wakes.
	notify chan struct{}
	// view is the view followed: set under the index's mutex, read by the stream.
	view atomic.Pointer[view]
}

func (s *subscriber) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// index holds the informers and every state subscribers follow.
type index struct {
	b                      builder
	log                    *slog.Logger
	factory                informers.SharedInformerFactory
	services, slices, pods cache.SharedIndexInformer
	queue                  workqueue.TypedInterface[queueKey]
	synced                 chan struct{}

	mu      sync.Mutex
	svcs    map[serviceKey]*serviceState
	ips     map[netip.Addr]*ipState
	podRefs map[types.NamespacedName]map[serviceKey]struct{}
	causes  map[queueKey]time.Time
	none    *view
}

func newIndex(client kubernetes.Interface, b builder, log *slog.Logger) (*index, error) {
	x := &index{
		b: b, log: log,
		factory: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(slim)),
		queue:   workqueue.NewTyped[queueKey](),
		synced:  make(chan struct{}),
		svcs:    map[serviceKey]*serviceState{},
		ips:     map[netip.Addr]*ipState{},
		podRefs: map[types.NamespacedName]map[serviceKey]struct{}{},
		causes:  map[queueKey]time.Time{},
		none:    newView(viewKey{}, notInMesh),
	}
	x.services = x.factory.Core().V1().Services().Informer()
	x.slices = x.factory.Discovery().V1().EndpointSlices().Informer()
	x.pods = x.factory.Core().V1().Pods().Informer()
	for _, s := range []struct {
		inf     cache.SharedIndexInformer
		name    string
		index   cache.IndexFunc
		handler cache.ResourceEventHandler
	}{
		{x.services, byClusterIP, clusterIPs, x.serviceHandler()},
		{x.slices, byService, sliceService, x.sliceHandler()},
		{x.pods, byPodIP, podIPs, x.podHandler()},
	} {
		if err := s.inf.AddIndexers(cache.Indexers{s.name: s.index}); err != nil {
			return nil, err
		}
		if _, err := s.inf.AddEventHandler(s.handler); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// start starts the informers and, once their caches hold everything, the worker; both stop
// when ctx ends.
func (x *index) start(ctx context.Context) error {
	x.factory.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		x.queue.ShutDown()
		x.factory.Shutdown()
	}()
	for typ, ok := range x.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("the cache of %v did not sync: %w", typ, context.Cause(ctx))
		}
	}
	close(x.synced)
	// One worker: every recomputation holds the mutex anyway, and a key is never in two
	// places at once in the queue, so a burst of events on one Service is one recomputation.
	go func() {
		for x.work() {
		}
	}()
	return nil
}

// work recomputes one queued key; false once the queue is shut down.
func (x *index) work() bool {
	k, shutdown := x.queue.Get()
	if shutdown {
		return false
	}
	defer x.queue.Done(k)
	x.mu.Lock()
	defer x.mu.Unlock()
	cause := x.causes[k]
	delete(x.causes, k)
	if k.ip.IsValid() {
		x.recomputeIP(k.ip, cause)
	} else {
		x.recomputeService(k.service, cause)
	}
	return true
}

// enqueue queues k if anyone watches it, remembering when the first event since its last
// recomputation was seen. The caller holds the mutex.
func (x *index) enqueue(k queueKey, now time.Time) {
	if k.ip.IsValid() {
		if _, ok := x.ips[k.ip]; !ok {
			return
		}
	} else {
		// A Service may be the local member of a federated Service that someone follows.
		fk := serviceKey{Namespace: k.service.Namespace, Name: k.service.Name + mcv1alpha1.FederatedSuffix}
		if _, ok := x.svcs[fk]; ok {
			x.enqueue(queueKey{service: fk}, now)
		}
		if _, ok := x.svcs[k.service]; !ok {
			return
		}
	}
	if t, ok := x.causes[k]; !ok || now.Before(t) {
		x.causes[k] = now
	}
	x.queue.Add(k)
}

// subscribe starts following t.
func (x *index) subscribe(t target) *subscriber {
	sub := &subscriber{target: t, notify: make(chan struct{}, 1)}
	x.mu.Lock()
	defer x.mu.Unlock()
	var v *view
	switch {
	case t.isService():
		v = x.serviceView(t.service, t.port)
	case t.isAddr():
		x.ipState(t.addr.Addr()).subs[sub] = struct{}{}
		v = x.resolveAddr(t.addr)
	default:
		v = x.none
	}
	x.attach(sub, v)
	return sub
}

// unsubscribe stops following, and forgets every state no one follows any more.
func (x *index) unsubscribe(sub *subscriber) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if sub.target.isAddr() {
		ip := sub.target.addr.Addr()
		if st := x.ips[ip]; st != nil {
			delete(st.subs, sub)
		}
	}
	x.detach(sub, sub.view.Load())
	if sub.target.isAddr() {
		x.releaseIP(sub.target.addr.Addr())
	}
}

func (x *index) attach(sub *subscriber, v *view) {
	v.subs[sub] = struct{}{}
	sub.view.Store(v)
	sub.wake()
}

func (x *index) detach(sub *subscriber, v *view) {
	delete(v.subs, sub)
	if len(v.subs) > 0 || v == x.none {
		return
	}
	switch {
	case v.key.service.Name != "":
		st := x.svcs[v.key.service]
		if st == nil {
			return
		}
		delete(st.views, v.key.port)
		if len(st.views) == 0 {
			x.setRefs(v.key.service, st, nil)
			delete(x.svcs, v.key.service)
		}
	case v.key.addr.IsValid():
		if st := x.ips[v.key.addr.Addr()]; st != nil {
			delete(st.views, v.key.addr.Port())
		}
		x.releaseIP(v.key.addr.Addr())
	}
}

func (x *index) ipState(ip netip.Addr) *ipState {
	st := x.ips[ip]
	if st == nil {
		st = &ipState{views: map[uint16]*view{}, subs: map[*subscriber]struct{}{}}
		x.ips[ip] = st
	}
	return st
}

func (x *index) releaseIP(ip netip.Addr) {
	if st := x.ips[ip]; st != nil && len(st.views) == 0 && len(st.subs) == 0 {
		delete(x.ips, ip)
	}
}

// serviceView returns the view of a Service port, made and computed if no one followed it.
func (x *index) serviceView(key serviceKey, port int32) *view {
	st := x.svcs[key]
	if st == nil {
		st = &serviceState{views: map[int32]*view{}, pods: map[types.NamespacedName]struct{}{}}
		x.svcs[key] = st
	}
	if v := st.views[port]; v != nil {
		return v
	}
	refs := map[types.NamespacedName]struct{}{}
	v := newView(viewKey{service: key, port: port}, x.b.serviceState(x.serviceObjects(key), port, x.pod, func(p types.NamespacedName) { refs[p] = struct{}{} }))
	st.views[port] = v
	for p := range st.pods {
		refs[p] = struct{}{} // the other ports' pods still count
	}
	x.setRefs(key, st, refs)
	return v
}

// podView returns the view of the pod at ap, made and computed if no one followed it.
func (x *index) podView(ap netip.AddrPort) *view {
	st := x.ipState(ap.Addr())
	if v := st.views[ap.Port()]; v != nil {
		return v
	}
	v := newView(viewKey{addr: ap}, x.b.podState(x.podAt(ap.Addr()), ap))
	st.views[ap.Port()] = v
	return v
}

// resolveAddr finds what an address names, as kube-proxy would route it: a Service's port at
// its ClusterIP, else the pod with that IP, else nothing in the mesh.
func (x *index) resolveAddr(ap netip.AddrPort) *view {
	objs, _ := x.services.GetIndexer().ByIndex(byClusterIP, ap.Addr().String())
	svcs := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			svcs = append(svcs, s)
		}
	}
	// Two Services hold one IP only while one is deleted and the IP reused: take the newest.
	slices.SortFunc(svcs, func(a, b *corev1.Service) int { return b.CreationTimestamp.Compare(a.CreationTimestamp.Time) })
	for _, s := range svcs {
		if _, ok := servicePort(s, int32(ap.Port())); ok {
			return x.serviceView(serviceKey{Namespace: s.Namespace, Name: s.Name}, int32(ap.Port()))
		}
	}
	if x.podAt(ap.Addr()) != nil {
		return x.podView(ap)
	}
	return x.none
}

// recomputeService publishes the current state of every port of key that is followed.
func (x *index) recomputeService(key serviceKey, cause time.Time) {
	st := x.svcs[key]
	if st == nil {
		return
	}
	objs := x.serviceObjects(key)
	refs := map[types.NamespacedName]struct{}{}
	for port, v := range st.views {
		v.publish(x.b.serviceState(objs, port, x.pod, func(p types.NamespacedName) { refs[p] = struct{}{} }), cause)
	}
	x.setRefs(key, st, refs)
}

// recomputeIP publishes the state of the pod views at ip and resolves its address
// subscribers again: a Service or pod there may have come or gone.
func (x *index) recomputeIP(ip netip.Addr, cause time.Time) {
	st := x.ips[ip]
	if st == nil {
		return
	}
	pod := x.podAt(ip)
	for port, v := range st.views {
		ap := netip.AddrPortFrom(ip, port)
		v.publish(x.b.podState(pod, ap), cause)
	}
	for _, sub := range slices.Collect(maps.Keys(st.subs)) {
		old := sub.view.Load()
		if nv := x.resolveAddr(sub.target.addr); nv != old {
			x.attach(sub, nv)
			x.detach(sub, old)
		}
	}
}

// setRefs makes refs the pods key's endpoints point at, in the reverse index too.
func (x *index) setRefs(key serviceKey, st *serviceState, refs map[types.NamespacedName]struct{}) {
	for p := range st.pods {
		if _, keep := refs[p]; keep {
			continue
		}
		if m := x.podRefs[p]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(x.podRefs, p)
			}
		}
	}
	for p := range refs {
		m := x.podRefs[p]
		if m == nil {
			m = map[serviceKey]struct{}{}
			x.podRefs[p] = m
		}
		m[key] = struct{}{}
	}
	if refs == nil {
		refs = map[types.NamespacedName]struct{}{}
	}
	st.pods = refs
}

// serviceObjects reads from the caches what key's state is computed from.
func (x *index) serviceObjects(key serviceKey) objects {
	obj, ok, _ := x.services.GetIndexer().GetByKey(key.Namespace + "/" + key.Name)
	if !ok {
		return objects{}
	}
	svc, _ := obj.(*corev1.Service)
	objs, _ := x.slices.GetIndexer().ByIndex(byService, key.Namespace+"/"+key.Name)
	out := objects{svc: svc, slices: make([]*discoveryv1.EndpointSlice, 0, len(objs))}
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out.slices = append(out.slices, s)
		}
	}
	// In name order, so that an address in two slices is always taken from the same one.
	slices.SortFunc(out.slices, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	if svc != nil && federated(svc) {
		if name, ok := strings.CutSuffix(key.Name, mcv1alpha1.FederatedSuffix); ok && name != "" {
			member := x.serviceObjects(serviceKey{Namespace: key.Namespace, Name: name})
			out.member = &member
		}
	}
	return out
}

func (x *index) pod(key types.NamespacedName) (*corev1.Pod, bool) {
	obj, ok, _ := x.pods.GetIndexer().GetByKey(key.Namespace + "/" + key.Name)
	if !ok {
		return nil, false
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}

// podAt returns the pod that has ip and has not finished, if any.
func (x *index) podAt(ip netip.Addr) *corev1.Pod {
	objs, _ := x.pods.GetIndexer().ByIndex(byPodIP, ip.String())
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && !finished(p) {
			return p
		}
	}
	return nil // a finished pod's IP is free: nothing is there
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
