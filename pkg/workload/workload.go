package workload

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names shared with the proxy injector: a pod is meshed when it has the proxy container, as
// the injector adds it, or asks for it with the annotation.
const (
	// ProxyContainerName is the name of the proxy container the injector adds (a native
	// sidecar, that is an init container, where the cluster supports it).
	ProxyContainerName = "meshfed-proxy"
	// InjectAnnotation, set to InjectEnabled on a pod template or namespace, asks for the
	// proxy.
	InjectAnnotation = "meshfed.io/inject"
	InjectEnabled    = "enabled"
)

// Meshed says whether pod runs the mesh's proxy: it has the proxy container (as a container
// or a native sidecar) or asks the injector for it.
func Meshed(pod *corev1.Pod) bool {
	if pod.Annotations[InjectAnnotation] == InjectEnabled {
		return true
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == ProxyContainerName {
				return true
			}
		}
	}
	return false
}

// ServiceAccount is the ServiceAccount pod runs as, which its identity names.
func ServiceAccount(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName == "" {
		return "default" // what the ServiceAccount admission plugin sets
	}
	return pod.Spec.ServiceAccountName
}

// Slim is the part of a pod the mesh reads, for an informer's transform: a cache of every pod
// of a cluster costs a fraction of the full objects.
func Slim(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
			Labels: p.Labels, OwnerReferences: p.OwnerReferences,
		},
		Spec:   corev1.PodSpec{ServiceAccountName: p.Spec.ServiceAccountName, HostNetwork: p.Spec.HostNetwork},
		Status: corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}
	if v, ok := p.Annotations[InjectAnnotation]; ok {
		out.Annotations = map[string]string{InjectAnnotation: v}
	}
	// Only the proxy's container is kept, by name: whether it is there is all that counts.
	for _, c := range p.Spec.Containers {
		if c.Name == ProxyContainerName {
			out.Spec.Containers = []corev1.Container{{Name: c.Name}}
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == ProxyContainerName {
			out.Spec.InitContainers = []corev1.Container{{Name: c.Name}}
		}
	}
	return out
}
