package destination

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/meshfed/meshfed/pkg/workload"
)

// slim is the informers' transform: it keeps of each object what the service reads, before
// the object is stored, so that the caches of a large cluster stay small. Pods lose most:
// their specs and statuses are large and only names, the service account, the proxy's
// presence and the IPs count here. It is idempotent, as client-go requires.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return workload.Slim(o), nil
	case *corev1.Service:
		o.ManagedFields = nil
		delete(o.Annotations, corev1.LastAppliedConfigAnnotation)
		return o, nil
	case *discoveryv1.EndpointSlice:
		o.ManagedFields = nil
		delete(o.Annotations, corev1.LastAppliedConfigAnnotation)
		return o, nil
	}
	return obj, nil
}

func clusterIPs(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	return normalIPs(ips), nil
}

func sliceService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
}

func podIPs(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.HostNetwork {
		return nil, nil // the node's IP: many pods, none of them named by it
	}
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []string{p.Status.PodIP}
	}
	return normalIPs(ips), nil
}

// normalIPs spells IPs as netip does, so that the index and the lookups agree; "None" and
// anything else that is no IP is left out.
func normalIPs(in []string) []string {
	var out []string
	for _, s := range in {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap().String())
		}
	}
	return out
}

func ipsOf(index cache.IndexFunc, obj any) []netip.Addr {
	if obj == nil {
		return nil
	}
	strs, _ := index(obj)
	out := make([]netip.Addr, 0, len(strs))
	for _, s := range strs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// unwrap returns the object of a delete event whose last state the informer missed.
func unwrap(obj any) any {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return obj
}

// The handlers only queue work (under the mutex, briefly): the worker recomputes. Each queues
// what the old and the new object touch, so that a label or IP that changed is seen from
// both sides.

func (x *index) serviceHandler() cache.ResourceEventHandler {
	on := func(objs ...any) {
		now := time.Now()
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, obj := range objs {
			svc, ok := unwrap(obj).(*corev1.Service)
			if !ok {
				continue
			}
			x.enqueue(queueKey{service: serviceKey{Namespace: svc.Namespace, Name: svc.Name}}, now)
			for _, ip := range ipsOf(clusterIPs, svc) {
				x.enqueue(queueKey{ip: ip}, now)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { on(obj) },
		UpdateFunc: func(old, obj any) { on(old, obj) },
		DeleteFunc: func(obj any) { on(obj) },
	}
}

func (x *index) sliceHandler() cache.ResourceEventHandler {
	on := func(objs ...any) {
		now := time.Now()
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, obj := range objs {
			s, ok := unwrap(obj).(*discoveryv1.EndpointSlice)
			if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
				continue
			}
			x.enqueue(queueKey{service: serviceKey{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}}, now)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { on(obj) },
		UpdateFunc: func(old, obj any) { on(old, obj) },
		DeleteFunc: func(obj any) { on(obj) },
	}
}

func (x *index) podHandler() cache.ResourceEventHandler {
	on := func(objs ...any) {
		now := time.Now()
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, obj := range objs {
			p, ok := unwrap(obj).(*corev1.Pod)
			if !ok {
				continue
			}
			for svc := range x.podRefs[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] {
				x.enqueue(queueKey{service: svc}, now)
			}
			for _, ip := range ipsOf(podIPs, p) {
				x.enqueue(queueKey{ip: ip}, now)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { on(obj) },
		UpdateFunc: func(old, obj any) {
			// Most pod updates are status changes nothing here reads (conditions, container
			// states): they queue nothing.
			if o, ok := old.(*corev1.Pod); ok {
				if n, ok := obj.(*corev1.Pod); ok && factsOf(o).equal(factsOf(n)) {
					return
				}
			}
			on(old, obj)
		},
		DeleteFunc: func(obj any) { on(obj) },
	}
}

// podFacts are what endpoints take from a pod.
type podFacts struct {
	meshed, hostNetwork, finished bool
	serviceAccount, workload      string
	ips                           []string
}

func factsOf(p *corev1.Pod) podFacts {
	ips, _ := podIPs(p)
	return podFacts{
		meshed: workload.Meshed(p), hostNetwork: p.Spec.HostNetwork, finished: finished(p),
		serviceAccount: workload.ServiceAccount(p), workload: workloadOf(p), ips: ips,
	}
}

func (a podFacts) equal(b podFacts) bool {
	if a.meshed != b.meshed || a.hostNetwork != b.hostNetwork || a.finished != b.finished ||
		a.serviceAccount != b.serviceAccount || a.workload != b.workload || len(a.ips) != len(b.ips) {
		return false
	}
	for i := range a.ips {
		if a.ips[i] != b.ips[i] {
			return false
		}
	}
	return true
}
