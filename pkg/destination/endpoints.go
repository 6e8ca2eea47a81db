package destination

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/workload"
)

// state is what a view says at one moment: whether the target exists, and its endpoints by
// address.
type state struct {
	exists    bool
	endpoints map[netip.AddrPort]*destinationv1.Endpoint
}

var notInMesh = state{}

// podLookup finds a pod in the informer's cache.
type podLookup func(types.NamespacedName) (*corev1.Pod, bool)

// builder turns Kubernetes objects into Endpoints; it holds what every endpoint is built with.
type builder struct {
	trustDomain string
	log         *slog.Logger
}

// servicePort returns svc's TCP port numbered port, if it has one.
func servicePort(svc *corev1.Service, port int32) (corev1.ServicePort, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Port == port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

// objects are what a Service's state is computed from: the Service, its EndpointSlices, and
// for a federated Service, its local member's.
type objects struct {
	svc    *corev1.Service
	slices []*discoveryv1.EndpointSlice
	member *objects
}

// serviceState is the state of svc's port: the ready endpoints of its EndpointSlices, matched
// by port name as kube-proxy matches them. That name carries a named targetPort too: the
// endpointslice controller writes, in each slice, the number the name resolves to in that
// slice's pods. refs receives every pod an endpoint points at, found or not, so that the pod's
// arrival or change is seen.
func (b *builder) serviceState(o objects, port int32, pods podLookup, refs func(types.NamespacedName)) state {
	svc := o.svc
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return notInMesh // ExternalName: a DNS alias; the proxy goes where DNS says
	}
	sp, ok := servicePort(svc, port)
	if !ok {
		return notInMesh // not one of its ports: as unreachable through the mesh as without it
	}
	if federated(svc) {
		return b.federatedState(o, sp, pods, refs)
	}
	mirror := viaGateway(svc)
	if mirror && svc.Spec.ClusterIP == corev1.ClusterIPNone {
		// The headless parent of per-pod gateway mirrors: its endpoints are those mirrors'
		// cluster IPs, each of which the proxy resolves as a Service of its own.
		return notInMesh
	}
	var gw *gateway
	if mirror {
		if gw = gatewayOf(svc.Annotations, svc.Labels, sp.Port); gw == nil {
			b.log.Warn("mirror has no remote name: its endpoints are not sent until the link controller writes it",
				"service", svc.Namespace+"/"+svc.Name, "annotation", mcv1alpha1.AnnotationRemoteSvcFQName)
			return state{exists: true}
		}
	}
	flat := flatMirror(svc)
	out := state{exists: true, endpoints: map[netip.AddrPort]*destinationv1.Endpoint{}}
	for _, s := range o.slices {
		var ids map[string]string
		if flat {
			// The remote pods, called directly: each meshed one proves the identity the link
			// controller read from its ServiceAccount there.
			ids = mcv1alpha1.ParseEndpointIdentities(s.Annotations[mcv1alpha1.AnnotationEndpointIdentities])
		}
		b.addEndpoints(out.endpoints, svc, sp, s, sp.Name, gw, ids, pods, refs)
	}
	return out
}

// federatedState is the state of a clusterset Service's port (a federated Service, or the
// Service derived from a ServiceImport): its local member's endpoints while any is ready, so
// that traffic stays in the cluster; else every other member's, each through its cluster's
// gateway. A federated Service's local member is the Service it is named after; a
// ServiceImport's is in its own slices (mode local), copied from the exported Service's.
func (b *builder) federatedState(o objects, sp corev1.ServicePort, pods podLookup, refs func(types.NamespacedName)) state {
	if m := o.member; m != nil && m.svc != nil && m.svc.Labels[mcv1alpha1.LabelFederated] == mcv1alpha1.FederatedMember {
		if local := b.serviceState(*m, sp.Port, pods, refs); len(local.endpoints) > 0 {
			return local
		}
	}
	local := state{exists: true, endpoints: map[netip.AddrPort]*destinationv1.Endpoint{}}
	b.memberEndpoints(local.endpoints, o, sp, mcv1alpha1.MirrorModeLocal, pods, refs)
	if len(local.endpoints) > 0 {
		return local
	}
	out := state{exists: true, endpoints: map[netip.AddrPort]*destinationv1.Endpoint{}}
	b.memberEndpoints(out.endpoints, o, sp, mcv1alpha1.MirrorModeFederated, pods, refs)
	b.memberEndpoints(out.endpoints, o, sp, mcv1alpha1.MirrorModeRemoteDiscovery, pods, refs)
	return out
}

// memberEndpoints adds to out the ready endpoints of o's member slices of mode: the remote
// members' through their clusters' gateways (MirrorModeFederated) or at their pods, each
// with the identity the slice gives it (MirrorModeRemoteDiscovery, flat), or this cluster's
// own (MirrorModeLocal), each described from its pod.
func (b *builder) memberEndpoints(out map[netip.AddrPort]*destinationv1.Endpoint, o objects, sp corev1.ServicePort, mode string, pods podLookup, refs func(types.NamespacedName)) {
	for _, s := range o.slices {
		if s.Labels[mcv1alpha1.LabelMirrorMode] != mode {
			continue
		}
		var gw *gateway
		var ids map[string]string
		switch mode {
		case mcv1alpha1.MirrorModeFederated:
			if gw = gatewayOf(s.Annotations, s.Labels, sp.Port); gw == nil {
				continue
			}
		case mcv1alpha1.MirrorModeRemoteDiscovery:
			ids = mcv1alpha1.ParseEndpointIdentities(s.Annotations[mcv1alpha1.AnnotationEndpointIdentities])
		}
		// Each member names its ports as it likes: its slice's port is the one its own
		// Service has at this number.
		for _, p := range mcv1alpha1.ParseRemotePorts(s.Annotations[mcv1alpha1.AnnotationRemotePorts]) {
			if p.Port == sp.Port && p.Protocol == corev1.ProtocolTCP {
				name := p.Name
				if _, ok := slicePort(s, mcv1alpha1.GatewayPortName(p.Name)); gw != nil && ok {
					// A gateway slice names its ports so that kube-proxy leaves them be;
					// one written before it did has the member's own names.
					name = mcv1alpha1.GatewayPortName(p.Name)
				}
				b.addEndpoints(out, o.svc, sp, s, name, gw, ids, pods, refs)
				break
			}
		}
	}
}

// addEndpoints adds to out the ready endpoints of s, a slice of svc, on its port named
// portName: through gw when it is set; else with the identity ids gives its address, for the
// remote pods of a flat mirror; else each described from its pod.
func (b *builder) addEndpoints(out map[netip.AddrPort]*destinationv1.Endpoint, svc *corev1.Service, sp corev1.ServicePort, s *discoveryv1.EndpointSlice, portName string, gw *gateway, ids map[string]string, pods podLookup, refs func(types.NamespacedName)) {
	if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
		return // FQDN endpoints are names the proxy cannot balance over
	}
	epPort, ok := slicePort(s, portName)
	if !ok {
		return
	}
	hint := protocolHint(sp.AppProtocol)
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		if !ready(e) || len(e.Addresses) == 0 {
			continue
		}
		// Every address of an endpoint is the same pod; like kube-proxy, use the first.
		ip, err := netip.ParseAddr(e.Addresses[0])
		if err != nil {
			continue
		}
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(epPort))
		if _, dup := out[ap]; dup {
			continue // the same endpoint in two slices while the controller moves it
		}
		ep := &destinationv1.Endpoint{
			Address:      socketAddress(ap),
			Weight:       DefaultWeight,
			Labels:       map[string]string{labelNamespace: svc.Namespace, labelService: svc.Name},
			ProtocolHint: hint,
		}
		if e.Zone != nil && *e.Zone != "" {
			ep.Labels[labelZone] = *e.Zone
		}
		switch {
		case gw != nil:
			ep.Gateway = gw.at(ap)
			ep.Labels[labelCluster] = gw.cluster
		case ids != nil:
			ep.TlsIdentity = ids[ap.Addr().String()]
			ep.Labels[labelCluster] = svc.Labels[mcv1alpha1.LabelClusterName]
			if c := s.Labels[mcv1alpha1.LabelClusterName]; c != "" {
				ep.Labels[labelCluster] = c // a clusterset Service's member slice names its own
			}
		case e.TargetRef != nil && e.TargetRef.Kind == "Pod":
			key := types.NamespacedName{Namespace: e.TargetRef.Namespace, Name: e.TargetRef.Name}
			if key.Namespace == "" {
				key.Namespace = s.Namespace
			}
			refs(key)
			pod, ok := pods(key)
			if !ok {
				// Not in the cache yet (the pod's event comes on another watch): wait for it
				// rather than send a meshed pod as plaintext. Its arrival recomputes this.
				continue
			}
			b.describePod(ep, pod)
		}
		out[ap] = ep
	}
}

// podState is the state of a pod IP:port: that pod alone, with no protocol hint (no Service
// port says what it speaks).
func (b *builder) podState(pod *corev1.Pod, ap netip.AddrPort) state {
	if pod == nil {
		return notInMesh
	}
	ep := &destinationv1.Endpoint{Address: socketAddress(ap), Weight: DefaultWeight, Labels: map[string]string{}}
	b.describePod(ep, pod)
	return state{exists: true, endpoints: map[netip.AddrPort]*destinationv1.Endpoint{ap: ep}}
}

// describePod sets what an endpoint takes from its pod: labels, and the identity if meshed.
func (b *builder) describePod(ep *destinationv1.Endpoint, pod *corev1.Pod) {
	sa := workload.ServiceAccount(pod)
	ep.Labels[labelPod] = pod.Name
	ep.Labels[labelNamespace] = pod.Namespace
	ep.Labels[labelServiceAccount] = sa
	if w := workloadOf(pod); w != "" {
		ep.Labels[labelWorkload] = w
	}
	if workload.Meshed(pod) {
		ep.TlsIdentity = trust.ID{TrustDomain: b.trustDomain, Namespace: pod.Namespace, ServiceAccount: sa}.String()
	}
}

// workloadOf names what made pod, as "<kind>/<name>" in lower case ("deployment/web",
// "statefulset/db"), from its controller reference alone: a ReplicaSet whose name is its
// pod's pod-template-hash label after a dash is a Deployment's, which saves watching
// ReplicaSets.
func workloadOf(pod *corev1.Pod) string {
	for _, o := range pod.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			if h := pod.Labels["pod-template-hash"]; h != "" {
				if d, ok := strings.CutSuffix(o.Name, "-"+h); ok && d != "" {
					return "deployment/" + d
				}
			}
		}
		return strings.ToLower(o.Kind) + "/" + o.Name
	}
	return ""
}

// slicePort returns the number of s's TCP port named name (empty for a Service's one unnamed
// port).
func slicePort(s *discoveryv1.EndpointSlice, name string) (int32, bool) {
	for _, p := range s.Ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		if pn != name || p.Port == nil || *p.Port < 1 || *p.Port > 65535 {
			continue
		}
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		return *p.Port, true
	}
	return 0, false
}

// ready says whether an endpoint takes new traffic. Unset means ready, as the API documents;
// serving-but-terminating endpoints are left out.
func ready(e *discoveryv1.Endpoint) bool {
	return e.Conditions.Ready == nil || *e.Conditions.Ready
}

// protocolHint reads a Service port's appProtocol.
func protocolHint(appProtocol *string) destinationv1.ProtocolHint {
	if appProtocol == nil {
		return destinationv1.ProtocolHint_PROTOCOL_HINT_UNKNOWN
	}
	switch strings.ToLower(*appProtocol) {
	case "http", "kubernetes.io/http":
		return destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP1
	case "h2c", "http2", "kubernetes.io/h2c":
		return destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP2
	case "grpc":
		return destinationv1.ProtocolHint_PROTOCOL_HINT_GRPC
	case "tcp":
		return destinationv1.ProtocolHint_PROTOCOL_HINT_OPAQUE
	}
	return destinationv1.ProtocolHint_PROTOCOL_HINT_UNKNOWN
}

// viaGateway tells a mirror reached through its cluster's gateway. A remote-discovery (flat)
// mirror's endpoints are the remote pods, reached directly. A mirror made before the link
// controller wrote the mode is a gateway mirror: the only kind it made then with a remote
// name.
func viaGateway(svc *corev1.Service) bool {
	return svc.Labels[mcv1alpha1.LabelMirroredService] == "true" &&
		svc.Labels[mcv1alpha1.LabelMirrorMode] != mcv1alpha1.MirrorModeRemoteDiscovery &&
		!federated(svc)
}

// flatMirror tells a remote-discovery mirror, whose endpoints are the remote pods.
func flatMirror(svc *corev1.Service) bool {
	return svc.Labels[mcv1alpha1.LabelMirroredService] == "true" &&
		svc.Labels[mcv1alpha1.LabelMirrorMode] == mcv1alpha1.MirrorModeRemoteDiscovery
}

// federated tells a federated Service, "<name>-federated", which the link controller made.
func federated(svc *corev1.Service) bool {
	return svc.Labels[mcv1alpha1.LabelMirroredService] == "true" &&
		svc.Labels[mcv1alpha1.LabelMirrorMode] == mcv1alpha1.MirrorModeFederated
}

// gateway is what a mirror's port says of the way to its endpoints, each of which is a remote
// gateway's address.
type gateway struct {
	identity, authority, cluster string
	remoteIdentities             []string
}

// gatewayOf reads, for port, the annotations and labels the link controller writes on a
// mirror (or on a federated Service's slice); nil when they do not say the remote name to ask
// for.
func gatewayOf(annotations, labels map[string]string, port int32) *gateway {
	fq := strings.TrimSuffix(annotations[mcv1alpha1.AnnotationRemoteSvcFQName], ".")
	if fq == "" {
		return nil
	}
	gw := &gateway{
		identity: annotations[mcv1alpha1.AnnotationRemoteGatewayIdentity],
		// The mirror's ports are the remote Service's: the same number there.
		authority: net.JoinHostPort(fq, strconv.Itoa(int(port))),
		cluster:   labels[mcv1alpha1.LabelClusterName],
	}
	for _, id := range strings.Split(annotations[mcv1alpha1.AnnotationRemoteIdentities], ",") {
		if id = strings.TrimSpace(id); id != "" {
			gw.remoteIdentities = append(gw.remoteIdentities, id)
		}
	}
	return gw
}

// at is the Gateway message of the endpoint at ap, the gateway's own address.
func (g *gateway) at(ap netip.AddrPort) *destinationv1.Gateway {
	return &destinationv1.Gateway{
		Address: socketAddress(ap), TlsIdentity: g.identity, Authority: g.authority,
		Cluster: g.cluster, RemoteIdentities: g.remoteIdentities,
	}
}

func socketAddress(ap netip.AddrPort) *destinationv1.SocketAddress {
	return &destinationv1.SocketAddress{Ip: ap.Addr().Unmap().AsSlice(), Port: uint32(ap.Port())}
}
