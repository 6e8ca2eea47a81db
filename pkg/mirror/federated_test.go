package mirror

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func federatedMember(s *corev1.Service) {
	s.Labels[mcv1alpha1.LabelFederated] = mcv1alpha1.FederatedMember
}

// federatedSlices checks that the federated Service has the ports and one slice at the
// gateway per cluster in clusters, annotated for the destination service, ready as wanted.
func federatedSlices(ports []int32, ready bool, clusters ...string) func(*corev1.Service, []discoveryv1.EndpointSlice) error {
	return func(svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
		if svc.Labels[mcv1alpha1.LabelMirrorMode] != mcv1alpha1.MirrorModeFederated {
			return fmt.Errorf("labels %v, want %s=%s", svc.Labels, mcv1alpha1.LabelMirrorMode, mcv1alpha1.MirrorModeFederated)
		}
		var got []int32
		for _, p := range svc.Spec.Ports {
			got = append(got, p.Port)
		}
		if fmt.Sprint(got) != fmt.Sprint(ports) {
			return fmt.Errorf("ports %v, want %v", got, ports)
		}
		byCluster := map[string]discoveryv1.EndpointSlice{}
		for _, s := range slices {
			byCluster[s.Labels[mcv1alpha1.LabelClusterName]] = s
		}
		if len(byCluster) != len(clusters) {
			return fmt.Errorf("slices of clusters %v, want %v", keys(byCluster), clusters)
		}
		for _, c := range clusters {
			s, ok := byCluster[c]
			if !ok {
				return fmt.Errorf("no slice of cluster %s (have %v)", c, keys(byCluster))
			}
			if s.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName] == "" || s.Annotations[mcv1alpha1.AnnotationRemotePorts] == "" {
				return fmt.Errorf("slice %s annotations %v, want the remote name and ports", s.Name, s.Annotations)
			}
			if len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != "198.18.0.200" || *s.Endpoints[0].Conditions.Ready != ready {
				return fmt.Errorf("slice %s endpoints %+v, want the gateway, ready=%v", s.Name, s.Endpoints, ready)
			}
			// kube-proxy must not send unmeshed clients to the gateway: no slice port has
			// the name of a port of the Service.
			for _, sp := range s.Ports {
				for _, p := range svc.Spec.Ports {
					if ptr.Deref(sp.Name, "") == p.Name {
						return fmt.Errorf("slice %s has a port named %q, as the Service's: kube-proxy would send plain connections to the gateway", s.Name, p.Name)
					}
				}
			}
		}
		return nil
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFederatedService: a remote member, through two Links, makes one Service
// "<name>-federated" here with a slice per Link; its ports are every member's; the last
// member gone, it goes.
func TestFederatedService(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	second := f.link.DeepCopy()
	second.ObjectMeta = metav1.ObjectMeta{Name: f.link.Name + "b", Namespace: f.link.Namespace}
	second.Spec.TargetClusterName = f.link.Spec.TargetClusterName + "b"
	if err := localSide.client.Create(f.ctx, second); err != nil {
		t.Fatal(err)
	}
	first := f.link.Spec.TargetClusterName

	web := f.remoteService("web", federatedMember)
	// No ready endpoint there yet: nothing to fail over to.
	f.awaitMirror("web-federated", federatedSlices([]int32{80}, false, first, second.Spec.TargetClusterName))
	f.awaitServiceCondition("web", metav1.ConditionTrue, "Mirrored")
	f.remotePods("web", map[string]string{"": "198.18.144.20"})
	f.awaitMirror("web-federated", federatedSlices([]int32{80}, true, first, second.Spec.TargetClusterName))

	// A member that is not exported has no mirror of its own.
	var m corev1.Service
	if err := localSide.client.Get(f.ctx, client.ObjectKey{Namespace: f.namespace, Name: f.mirrorOf("web")}, &m); err == nil {
		t.Errorf("a federated member that is not exported has a mirror %s", m.Name)
	}

	web.Spec.Ports = append(web.Spec.Ports, corev1.ServicePort{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP})
	if err := remoteSide.client.Update(f.ctx, web); err != nil {
		t.Fatal(err)
	}
	f.awaitMirror("web-federated", federatedSlices([]int32{80, 9090}, true, first, second.Spec.TargetClusterName))

	// One Link gone, the other's member stays.
	if err := localSide.client.Delete(f.ctx, second); err != nil {
		t.Fatal(err)
	}
	f.awaitMirror("web-federated", federatedSlices([]int32{80, 9090}, true, first))

	delete(web.Labels, mcv1alpha1.LabelFederated)
	if err := remoteSide.client.Update(f.ctx, web); err != nil {
		t.Fatal(err)
	}
	f.awaitGone("web-federated")
}

// TestFederatedRefused: a headless member says why it is not taken.
func TestFederatedRefused(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	f.remoteService("db", federatedMember, headless)
	f.awaitServiceCondition("db", metav1.ConditionFalse, "FederatedHeadless")
}
