package mirror

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// A federated service unites the members of one name, in this cluster and in every linked
// one, under the local Service "<name>-federated". The link controller writes its remote part:
// the Service, and per Link whose cluster has a member an EndpointSlice at that cluster's
// gateway, labelled like a mirror's (so that pruning, marking not ready and unlinking treat it
// as one) and annotated with what the destination service needs to route through the gateway.
// The local member's endpoints are not copied: the destination service reads them from the
// local Service, and sends them alone while any is ready, which is what makes a federated
// service prefer its own cluster and fail over when its local member has no ready endpoint.
// Clients must therefore be meshed, as for Linkerd's federated services.

// A clusterset service is the same idea twice over: a federated Service (members labelled
// federated=member, united under "<name>-federated") and a ServiceImport (members exported by
// a ServiceExport, united under the Service "<name>-clusterset" that holds the ClusterSetIP;
// see clusterset.go). Both are built the same way: per Link whose cluster has a member, one
// EndpointSlice at that cluster's gateway, written by desiredMember, which the destination
// service reads the same way for both (the local member first, then the others through
// their gateways). What differs is named by a memberKind.

// memberKind is one way of uniting members of one name across clusters.
type memberKind struct {
	// suffix ends the united Service's name.
	suffix string
	// what names the united thing in messages.
	what string
	// headless says whether a headless member may join.
	headless bool
}

var (
	federatedKind = memberKind{suffix: mcv1alpha1.FederatedSuffix, what: "federated Service"}
	importKind    = memberKind{suffix: mcv1alpha1.ClusterSetSuffix, what: "ServiceImport's derived Service", headless: true}
)

// memberPart is what one remote member adds to its united Service here.
type memberPart struct {
	Service string
	Ports   []corev1.ServicePort
	Slices  []*discoveryv1.EndpointSlice
}

// isMember says whether the remote Service is a federated member taken by link.
func isMember(link *mcv1alpha1.Link, r remoteService) (bool, error) {
	if r.Service == nil || r.Service.Labels[mcv1alpha1.LabelFederated] != mcv1alpha1.FederatedMember {
		return false, nil
	}
	return selected(link, r.Service)
}

// isImported says whether the remote Service is exported by a ServiceExport, and so a member
// of its clusterset service, taken by link.
func isImported(link *mcv1alpha1.Link, r remoteService) (bool, error) {
	if r.Service == nil || r.Export == nil {
		return false, nil
	}
	return selected(link, r.Service)
}

// unitedName is the name of the Service of kind that unites the members named name.
func (k memberKind) unitedName(name string) (string, error) {
	n := name + k.suffix
	if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
		return "", fmt.Errorf("the %s's name %q is not a valid Service name (%s): shorten the Service's name to %d characters or fewer", k.what, n, errs[0], validation.DNS1035LabelMaxLength-len(k.suffix))
	}
	return n, nil
}

// federatedName is the name of the federated Service of the members named name.
func federatedName(name string) (string, error) { return federatedKind.unitedName(name) }

// desiredMember computes what a remote member adds to its united Service of kind.
func desiredMember(kind memberKind, link *mcv1alpha1.Link, key mirrorKey, r remoteService) (*memberPart, error) {
	name, err := kind.unitedName(key.Name)
	if err != nil {
		return nil, &notMirrored{"NameTooLong", err.Error()}
	}
	switch {
	case r.Service.Spec.ClusterIP == corev1.ClusterIPNone && !kind.headless:
		return nil, &notMirrored{"FederatedHeadless", "a headless Service cannot be a federated member, as its pods are not interchangeable: remove the label " + mcv1alpha1.LabelFederated + ", or export it instead"}
	case r.Service.Spec.Type == corev1.ServiceTypeExternalName:
		return nil, &notMirrored{"ExternalName", "an ExternalName Service names a host outside the cluster and cannot be a member of a " + kind.what + ": use a Service with a selector"}
	}
	part := &memberPart{Service: name}
	for _, p := range r.Service.Spec.Ports {
		part.Ports = append(part.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port, AppProtocol: p.AppProtocol})
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: key.Namespace}, Spec: corev1.ServiceSpec{Ports: part.Ports}}
	annotations := map[string]string{mcv1alpha1.AnnotationRemotePorts: mcv1alpha1.FormatRemotePorts(part.Ports)}
	var slices []*discoveryv1.EndpointSlice
	if kind == importKind && modeOf(r.Service, true) == remoteDiscovery {
		// Flat: the remote pods themselves, each with its identity, as a remote-discovery
		// mirror's, so that meshed clients call them over mTLS and unmeshed ones through
		// kube-proxy, with no gateway in between.
		slices = remoteEndpointSlices(key, link.Spec.TargetClusterName, svc, r, trustDomainOf(link), link.Spec.TargetClusterName+"-")
		for _, s := range slices {
			s.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeRemoteDiscovery
		}
	} else {
		// A member with no ready endpoint of its own is no place to fail over to: its slice
		// here is not ready, so that the destination service leaves that cluster out.
		ready := r.Healthy && hasReadyEndpoint(r.Slices)
		slices = gatewaySlices(link, key, svc, ready, link.Spec.TargetClusterName+"-")
		for _, s := range slices {
			s.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeFederated
			// Hidden from kube-proxy: unmeshed clients of the united Service reach its
			// other members' pods, never a gateway that would refuse them.
			for i, p := range s.Ports {
				s.Ports[i].Name = ptr.To(mcv1alpha1.GatewayPortName(ptr.Deref(p.Name, "")))
			}
		}
		annotations[mcv1alpha1.AnnotationRemoteSvcFQName] = remoteFQName(link, key)
		if link.Spec.GatewayIdentity != "" {
			annotations[mcv1alpha1.AnnotationRemoteGatewayIdentity] = link.Spec.GatewayIdentity
		}
		if ids := r.Service.Annotations[mcv1alpha1.AnnotationRemoteIdentities]; ids != "" {
			annotations[mcv1alpha1.AnnotationRemoteIdentities] = ids
		}
	}
	if kind == importKind {
		// What the clusterset's members may disagree on, for the oldest export to win.
		annotations[mcv1alpha1.AnnotationExport] = mcv1alpha1.FormatExport(exportOf(r.Export, r.Service))
	}
	for _, s := range slices {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range annotations {
			s.Annotations[k] = v
		}
		if kind == importKind {
			s.Labels[mcsv1alpha1.LabelServiceName] = key.Name
			s.Labels[mcsv1alpha1.LabelSourceCluster] = link.Spec.TargetClusterName
		}
		part.Slices = append(part.Slices, s)
	}
	return part, nil
}

// headlessMember is what a headless member reached through its cluster's gateway has in its
// clusterset service instead of the gateway, which is no pod's address: the per-pod mirrors'
// cluster IPs under the pods' hostnames (the endpoints of podSlice, the headless mirror's own
// slice), in one slice of the member's (gatewaySlices wrote those, from which it keeps the
// name's start, labels and the annotations saying what the member exports).
func headlessMember(gateway []*discoveryv1.EndpointSlice, podSlice *discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	if len(gateway) == 0 {
		return nil
	}
	s := gateway[0].DeepCopy()
	s.Name = strings.TrimSuffix(s.Name, typeSuffix(s.AddressType)) + "pods"
	s.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModePodMirrors
	// Not a way through a gateway: each address is a Service of this cluster's, which says
	// its own way there.
	for _, k := range []string{mcv1alpha1.AnnotationRemoteSvcFQName, mcv1alpha1.AnnotationRemoteGatewayIdentity, mcv1alpha1.AnnotationRemoteIdentities} {
		delete(s.Annotations, k)
	}
	s.AddressType, s.Endpoints, s.Ports = podSlice.AddressType, podSlice.Endpoints, podSlice.Ports
	return []*discoveryv1.EndpointSlice{s}
}

// exportOf is what an export says that clusterset members may disagree on.
func exportOf(se *mcsv1alpha1.ServiceExport, svc *corev1.Service) mcv1alpha1.Export {
	e := mcv1alpha1.Export{
		Created:         se.CreationTimestamp.UTC(),
		Headless:        svc.Spec.ClusterIP == corev1.ClusterIPNone,
		SessionAffinity: svc.Spec.SessionAffinity,
	}
	if e.SessionAffinity == "" {
		e.SessionAffinity = corev1.ServiceAffinityNone
	}
	if c := svc.Spec.SessionAffinityConfig; e.SessionAffinity == corev1.ServiceAffinityClientIP && c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		e.AffinityTimeout = *c.ClientIP.TimeoutSeconds
	}
	return e
}

// syncFederated makes the federated Service named name in ns hold the ports of every member:
// own's, if key still has a part in it, and those of the other Links' slices. With no member
// left, it deletes the Service.
func syncFederated(ctx context.Context, c client.Client, key mirrorKey, name string, own *memberPart) error {
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &slices, client.InNamespace(key.Namespace), client.MatchingLabels{
		discoveryv1.LabelServiceName:    name,
		mcv1alpha1.LabelMirrorMode:      mcv1alpha1.MirrorModeFederated,
		mcv1alpha1.LabelMirroredService: "true",
	}); err != nil {
		return err
	}
	var members [][]corev1.ServicePort
	if own != nil {
		members = append(members, own.Ports)
	}
	for _, s := range slices.Items {
		if owned(&s, key) {
			continue // key's part is own, as it is now
		}
		members = append(members, mcv1alpha1.ParseRemotePorts(s.Annotations[mcv1alpha1.AnnotationRemotePorts]))
	}

	var cur corev1.Service
	err := c.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, &cur)
	switch {
	case apierrors.IsNotFound(err) && len(members) == 0:
		return nil
	case apierrors.IsNotFound(err):
		want := federatedService(key.Namespace, name, unionPorts(members))
		if err := c.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return err // already there: made by another Link's member a moment ago
		}
		return nil
	case err != nil:
		return err
	}
	if cur.Labels[mcv1alpha1.LabelMirrorMode] != mcv1alpha1.MirrorModeFederated || cur.Labels[mcv1alpha1.LabelMirroredService] != "true" {
		if own == nil {
			return nil // not ours, and nothing of ours to put in it
		}
		return conflict("Service", &cur)
	}
	if len(members) == 0 {
		if err := c.Delete(ctx, &cur); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	want := federatedService(key.Namespace, name, unionPorts(members))
	if apiequality.Semantic.DeepEqual(cur.Spec.Ports, want.Spec.Ports) {
		return nil
	}
	cur.Spec.Ports = want.Spec.Ports
	return c.Update(ctx, &cur)
}

// federatedService is the federated Service named name with ports. It has no selector and no
// endpoints of its own making: see the top of this file.
func federatedService(ns, name string, ports []corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			mcv1alpha1.LabelMirroredService: "true",
			mcv1alpha1.LabelMirrorMode:      mcv1alpha1.MirrorModeFederated,
		}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports, SessionAffinity: corev1.ServiceAffinityNone},
	}
}

// unionPorts is every port of the members once, by number and protocol, in port order; a
// port's name is the first member's that has it. The apiserver's defaults are written out,
// so that an unchanged Service compares equal.
func unionPorts(members [][]corev1.ServicePort) []corev1.ServicePort {
	type portKey struct {
		port  int32
		proto corev1.Protocol
	}
	seen := map[portKey]bool{}
	names := map[string]bool{}
	var out []corev1.ServicePort
	for _, ports := range members {
		for _, p := range ports {
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
			k := portKey{p.Port, p.Protocol}
			if seen[k] || names[p.Name] {
				continue // a Service's ports have unique names and numbers
			}
			seen[k], names[p.Name] = true, true
			p.TargetPort = intstr.FromInt32(p.Port)
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	if len(out) > 1 {
		for i := range out {
			if out[i].Name == "" {
				// A Service of several ports must name each; an unnamed one gets its number.
				out[i].Name = fmt.Sprintf("port-%d", out[i].Port)
			}
		}
	}
	return out
}

func hasReadyEndpoint(slices []discoveryv1.EndpointSlice) bool {
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				return true
			}
		}
	}
	return false
}
