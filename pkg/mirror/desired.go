package mirror

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/workload"
)

// exportMode is how a remote Service is exported.
type exportMode string

const (
	notExported     exportMode = ""
	viaGateway      exportMode = "gateway"
	remoteDiscovery exportMode = "remote-discovery"
)

// modeOf reads a Service's export: its label, or a ServiceExport of the same name, which
// exports through the gateway unless the label asks for remote discovery.
func modeOf(svc *corev1.Service, hasServiceExport bool) exportMode {
	switch svc.Labels[mcv1alpha1.LabelExported] {
	case mcv1alpha1.ExportedRemoteDiscovery:
		return remoteDiscovery
	case mcv1alpha1.ExportedGateway:
		return viaGateway
	}
	if hasServiceExport {
		return viaGateway
	}
	return notExported
}

// remoteService is what the remote cluster says of one Service.
type remoteService struct {
	Service          *corev1.Service // nil when the remote has none
	HasServiceExport bool
	// Export is the remote's ServiceExport of the Service, if it has one.
	Export *mcsv1alpha1.ServiceExport
	Slices []discoveryv1.EndpointSlice
	// Pods are the remote pods behind Slices, by address; MissingPods says some endpoint's
	// pod is not read yet.
	Pods        map[string]*corev1.Pod
	MissingPods bool
	// Healthy is false while the remote cannot be reached: mirrors then stay, not ready.
	Healthy bool
}

// notMirrored is why an export has no mirror here; its reason goes on the Link.
type notMirrored struct {
	Reason  string
	Message string
}

func (n *notMirrored) Error() string { return n.Reason + ": " + n.Message }

// mirrorSet is what one remote Service should have here.
type mirrorSet struct {
	// Service is the mirror; PodServices the per-pod mirrors of a headless Service through
	// the gateway, whose cluster IPs the mirror's endpoints are.
	Service     *corev1.Service
	PodServices []*corev1.Service
	// HeadlessGateway: Service is headless and reached through the gateway, so its own
	// slice is headlessSlice's, made once the PodServices have their addresses.
	HeadlessGateway bool
	// Slices are the EndpointSlices of Service (unless it is a headless gateway mirror, whose
	// slice needs the PodServices' addresses: see headlessSlice) and of the PodServices.
	Slices []*discoveryv1.EndpointSlice
	// Federated is the remote Service's part of its federated Service, if it is a member.
	// A member need not be exported: Service is then nil.
	Federated *memberPart
	// Import is the remote Service's part of its clusterset service, if a ServiceExport
	// exports it: a slice of the ServiceImport's derived Service (see clusterset.go).
	Import *memberPart
}

// wanted decides whether a remote Service is mirrored under link: nil when it is not exported
// (or not selected), so that any mirror it has goes.
func wanted(link *mcv1alpha1.Link, r remoteService) (exportMode, error) {
	if r.Service == nil {
		return notExported, nil
	}
	mode := modeOf(r.Service, r.HasServiceExport)
	if mode == notExported {
		return notExported, nil
	}
	if ok, err := selected(link, r.Service); !ok || err != nil {
		return notExported, err
	}
	if r.Service.Spec.Type == corev1.ServiceTypeExternalName {
		return mode, &notMirrored{"ExternalName", "an ExternalName Service names a host outside the cluster and is not mirrored: export a Service with a selector instead"}
	}
	return mode, nil
}

// selected says whether the Link's selector takes svc.
func selected(link *mcv1alpha1.Link, svc *corev1.Service) (bool, error) {
	if link.Spec.Selector == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(link.Spec.Selector)
	if err != nil {
		return false, &notMirrored{"InvalidSelector", fmt.Sprintf("spec.selector: %v: fix the Link's selector", err)}
	}
	return sel.Matches(labels.Set(svc.Labels)), nil
}

// desiredMirrors computes the mirrors of an exported remote Service.
func desiredMirrors(link *mcv1alpha1.Link, key mirrorKey, mode exportMode, r remoteService) (*mirrorSet, error) {
	cluster := link.Spec.TargetClusterName
	name, err := mirrorName(key.Name, cluster)
	if err != nil {
		return nil, &notMirrored{"NameTooLong", err.Error()}
	}
	headless := r.Service.Spec.ClusterIP == corev1.ClusterIPNone
	svc := mirrorService(link, key, r.Service, name)
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	set := &mirrorSet{Service: svc}
	svc.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeGateway
	switch {
	case mode == remoteDiscovery:
		svc.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeRemoteDiscovery
		// Flat: the remote pods themselves, hostnames included, so a headless mirror resolves
		// web-0.<svc>-<cluster> to the pod.
		set.Slices = remoteEndpointSlices(key, cluster, svc, r, trustDomainOf(link), "remote-")
	case headless:
		// Through the gateway, one Service per pod, each at the gateway; the mirror's endpoints
		// are their cluster IPs under the pods' hostnames.
		set.HeadlessGateway = true
		for _, host := range hostnames(r.Slices) {
			pod := mirrorService(link, key, r.Service, podMirrorName(host, key.Name, cluster))
			pod.Labels[mcv1alpha1.LabelHeadlessMirror] = name
			pod.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeGateway
			pod.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName] = host + "." + remoteFQName(link, key)
			set.PodServices = append(set.PodServices, pod)
			set.Slices = append(set.Slices, gatewaySlices(link, key, pod, r.Healthy, "gateway-")...)
		}
	default:
		set.Slices = gatewaySlices(link, key, svc, r.Healthy, "gateway-")
	}
	return set, nil
}

func remoteFQName(link *mcv1alpha1.Link, key mirrorKey) string {
	domain := link.Spec.TargetClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	return fmt.Sprintf("%s.%s.svc.%s", key.Name, key.Namespace, domain)
}

// mirrorService is the local Service standing for remote: its ports, labels and annotations
// less the excluded ones, and the controller's own. It has no selector: its EndpointSlices
// are the controller's.
func mirrorService(link *mcv1alpha1.Link, key mirrorKey, remote *corev1.Service, name string) *corev1.Service {
	lbls := copyExcept(remote.Labels, link.Spec.ExcludedLabels)
	// A mirror must not export itself again when this cluster is linked back.
	delete(lbls, mcv1alpha1.LabelExported)
	delete(lbls, mcv1alpha1.LabelFederated)
	for k, v := range ownedLabels(key, link.Spec.TargetClusterName) {
		lbls[k] = v
	}
	ann := copyExcept(remote.Annotations, append([]string{corev1.LastAppliedConfigAnnotation}, link.Spec.ExcludedAnnotations...))
	ann[mcv1alpha1.AnnotationRemoteSvcFQName] = remoteFQName(link, key)
	ann[mcv1alpha1.AnnotationRemoteResourceVersion] = remote.ResourceVersion
	if link.Spec.GatewayIdentity != "" {
		ann[mcv1alpha1.AnnotationRemoteGatewayIdentity] = link.Spec.GatewayIdentity
	}
	var ports []corev1.ServicePort
	for _, p := range remote.Spec.Ports {
		ports = append(ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port, AppProtocol: p.AppProtocol})
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace, Labels: lbls, Annotations: ann},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Ports:                 ports,
			SessionAffinity:       remote.Spec.SessionAffinity,
			SessionAffinityConfig: remote.Spec.SessionAffinityConfig,
		},
	}
}

func copyExcept(in map[string]string, excluded []string) map[string]string {
	out := make(map[string]string, len(in)+4)
	for k, v := range in {
		out[k] = v
	}
	for _, k := range excluded {
		delete(out, k)
	}
	return out
}

// sliceMeta is the metadata of an EndpointSlice of svc: named after it, and labelled so that
// kube-proxy and CoreDNS take it for svc's and the endpointslice controller leaves it alone.
func sliceMeta(key mirrorKey, cluster string, svc *corev1.Service, suffix string) metav1.ObjectMeta {
	lbls := ownedLabels(key, cluster)
	lbls[discoveryv1.LabelServiceName] = svc.Name
	lbls[discoveryv1.LabelManagedBy] = managedBy
	if h, ok := svc.Labels[mcv1alpha1.LabelHeadlessMirror]; ok {
		lbls[mcv1alpha1.LabelHeadlessMirror] = h
	}
	return metav1.ObjectMeta{Name: svc.Name + "-" + suffix, Namespace: key.Namespace, Labels: lbls}
}

// gatewaySlices put svc's endpoints at the remote gateway: every port of svc is served on the
// gateway's port. One slice per address type, as an EndpointSlice holds one, named
// "<svc>-<prefix><type>".
func gatewaySlices(link *mcv1alpha1.Link, key mirrorKey, svc *corev1.Service, healthy bool, prefix string) []*discoveryv1.EndpointSlice {
	port := link.Spec.GatewayPort
	if port == 0 {
		port = mcv1alpha1.DefaultGatewayPort
	}
	var ports []discoveryv1.EndpointPort
	for _, p := range svc.Spec.Ports {
		ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(port)})
	}
	byType := map[discoveryv1.AddressType][]discoveryv1.Endpoint{}
	for _, a := range link.Spec.GatewayAddresses {
		t := addressType(a)
		byType[t] = append(byType[t], discoveryv1.Endpoint{
			Addresses:  []string{a},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(healthy)},
		})
	}
	if len(byType) == 0 {
		// No gateway address known: the mirror has a slice with no endpoint, not none, so that
		// it reads the same as every other mirror.
		byType[discoveryv1.AddressTypeIPv4] = nil
	}
	var out []*discoveryv1.EndpointSlice
	for _, t := range sortedTypes(byType) {
		out = append(out, &discoveryv1.EndpointSlice{
			ObjectMeta:  sliceMeta(key, link.Spec.TargetClusterName, svc, prefix+typeSuffix(t)),
			AddressType: t,
			Endpoints:   byType[t],
			Ports:       ports,
		})
	}
	return out
}

// trustDomainOf is the remote cluster's trust domain, read from the identity the Link expects
// of its gateway; empty when the Link names none.
func trustDomainOf(link *mcv1alpha1.Link) string {
	id, err := trust.ParseID(link.Spec.GatewayIdentity)
	if err != nil {
		return ""
	}
	return id.TrustDomain
}

// remoteEndpointSlices copy the remote pods' endpoints, one local slice per address type,
// named "<svc>-<prefix><type>".
// Their readiness is the remote's, and false while the remote cannot be reached. With the
// remote's trust domain known, each slice says the identity of every meshed pod in it, and a
// pod not read yet waits, not ready.
func remoteEndpointSlices(key mirrorKey, cluster string, svc *corev1.Service, r remoteService, trustDomain, prefix string) []*discoveryv1.EndpointSlice {
	byType := map[discoveryv1.AddressType][]discoveryv1.Endpoint{}
	portsByType := map[discoveryv1.AddressType][]discoveryv1.EndpointPort{}
	identities := map[discoveryv1.AddressType]map[string]string{}
	for _, s := range sortedSlices(r.Slices) {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		if _, ok := portsByType[s.AddressType]; !ok {
			portsByType[s.AddressType] = s.Ports
			identities[s.AddressType] = map[string]string{}
		}
		for _, ep := range s.Endpoints {
			ready := r.Healthy && (ep.Conditions.Ready == nil || *ep.Conditions.Ready)
			if trustDomain != "" && ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && len(ep.Addresses) > 0 {
				switch pod := r.Pods[ep.Addresses[0]]; {
				case pod == nil:
					ready = false
				case workload.Meshed(pod):
					identities[s.AddressType][ep.Addresses[0]] = trust.ID{TrustDomain: trustDomain, Namespace: pod.Namespace, ServiceAccount: workload.ServiceAccount(pod)}.String()
				}
			}
			byType[s.AddressType] = append(byType[s.AddressType], discoveryv1.Endpoint{
				Addresses:  ep.Addresses,
				Hostname:   ep.Hostname,
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
			})
		}
	}
	if len(byType) == 0 {
		byType[discoveryv1.AddressTypeIPv4] = nil
	}
	var out []*discoveryv1.EndpointSlice
	for _, t := range sortedTypes(byType) {
		eps := byType[t]
		sort.Slice(eps, func(i, j int) bool { return eps[i].Addresses[0] < eps[j].Addresses[0] })
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  sliceMeta(key, cluster, svc, prefix+typeSuffix(t)),
			AddressType: t,
			Endpoints:   eps,
			Ports:       portsByType[t],
		}
		if ids := identities[t]; len(ids) > 0 {
			slice.Annotations = map[string]string{mcv1alpha1.AnnotationEndpointIdentities: mcv1alpha1.FormatEndpointIdentities(ids)}
		}
		out = append(out, slice)
	}
	return out
}

// headlessSlice is the endpoint slice of a headless gateway mirror: the per-pod mirrors'
// cluster IPs under the remote pods' hostnames, so web-0.<svc>-<cluster> resolves.
func headlessSlice(link *mcv1alpha1.Link, key mirrorKey, svc *corev1.Service, pods []*corev1.Service, healthy bool) *discoveryv1.EndpointSlice {
	var ports []discoveryv1.EndpointPort
	for _, p := range svc.Spec.Ports {
		ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(p.Port)})
	}
	var eps []discoveryv1.Endpoint
	for _, pod := range pods {
		if pod.Spec.ClusterIP == "" || pod.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		// The pod's hostname is the first label of its remote name, as desiredMirrors wrote it.
		host, ok := strings.CutSuffix(pod.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName], "."+remoteFQName(link, key))
		if !ok || host == "" {
			continue
		}
		eps = append(eps, discoveryv1.Endpoint{
			Addresses:  []string{pod.Spec.ClusterIP},
			Hostname:   ptr.To(host),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(healthy)},
		})
	}
	sort.Slice(eps, func(i, j int) bool { return *eps[i].Hostname < *eps[j].Hostname })
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  sliceMeta(key, link.Spec.TargetClusterName, svc, "pods"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       ports,
	}
}

// hostnames are the remote endpoints' hostnames, each once, sorted.
func hostnames(slices []discoveryv1.EndpointSlice) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if ep.Hostname != nil && *ep.Hostname != "" && !seen[*ep.Hostname] {
				seen[*ep.Hostname] = true
				out = append(out, *ep.Hostname)
			}
		}
	}
	sort.Strings(out)
	return out
}

func addressType(a string) discoveryv1.AddressType {
	ip, err := netip.ParseAddr(a)
	switch {
	case err != nil:
		return discoveryv1.AddressTypeFQDN
	case ip.Is4():
		return discoveryv1.AddressTypeIPv4
	}
	return discoveryv1.AddressTypeIPv6
}

func typeSuffix(t discoveryv1.AddressType) string {
	switch t {
	case discoveryv1.AddressTypeIPv4:
		return "ipv4"
	case discoveryv1.AddressTypeIPv6:
		return "ipv6"
	}
	return "fqdn"
}

func sortedTypes(m map[discoveryv1.AddressType][]discoveryv1.Endpoint) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sortedSlices(in []discoveryv1.EndpointSlice) []discoveryv1.EndpointSlice {
	out := append([]discoveryv1.EndpointSlice(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
