package mirror

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func TestModeOf(t *testing.T) {
	tests := []struct {
		label         string
		serviceExport bool
		want          exportMode
	}{
		{"", false, notExported},
		{"true", false, viaGateway},
		{"remote-discovery", false, remoteDiscovery},
		{"", true, viaGateway},
		{"remote-discovery", true, remoteDiscovery},
		{"yes", false, notExported},
	}
	for _, tt := range tests {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{}}}
		if tt.label != "" {
			svc.Labels[mcv1alpha1.LabelExported] = tt.label
		}
		if got := modeOf(svc, tt.serviceExport); got != tt.want {
			t.Errorf("label %q, ServiceExport %v: %q, want %q", tt.label, tt.serviceExport, got, tt.want)
		}
	}
}

// A per-pod mirror whose annotation someone changed is left out of the headless mirror's
// endpoints, not a crash of the controller.
func TestHeadlessSliceSkipsForeignAnnotations(t *testing.T) {
	link := &mcv1alpha1.Link{Spec: mcv1alpha1.LinkSpec{TargetClusterName: "east"}}
	key := mirrorKey{Link: types.NamespacedName{Namespace: "mesh-multicluster", Name: "east"}, Namespace: "shop", Name: "db"}
	pod := func(ip, fq string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{mcv1alpha1.AnnotationRemoteSvcFQName: fq}},
			Spec:       corev1.ServiceSpec{ClusterIP: ip},
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db-east"}}
	s := headlessSlice(link, key, svc, []*corev1.Service{
		pod("198.19.0.5", "db-0.db.shop.svc.cluster.local"),
		pod("198.19.0.6", "x"),
		pod("198.19.0.7", ".db.shop.svc.cluster.local"),
		pod("", "db-1.db.shop.svc.cluster.local"),
	}, true)
	if len(s.Endpoints) != 1 || *s.Endpoints[0].Hostname != "db-0" || s.Endpoints[0].Addresses[0] != "198.19.0.5" {
		t.Errorf("endpoints %+v, want db-0 at 198.19.0.5 only", s.Endpoints)
	}
}

// The destination service tells a gateway mirror from a flat one by its mode label.
func TestDesiredMirrorsSayTheirMode(t *testing.T) {
	link := &mcv1alpha1.Link{Spec: mcv1alpha1.LinkSpec{TargetClusterName: "east", GatewayAddresses: []string{"198.18.0.100"}}}
	key := mirrorKey{Link: types.NamespacedName{Namespace: "mesh-multicluster", Name: "east"}, Namespace: "shop", Name: "web"}
	hostname := "web-0"
	tests := []struct {
		name     string
		mode     exportMode
		headless bool
		want     string
	}{
		{"through the gateway", viaGateway, false, mcv1alpha1.MirrorModeGateway},
		{"flat", remoteDiscovery, false, mcv1alpha1.MirrorModeRemoteDiscovery},
		{"headless through the gateway", viaGateway, true, mcv1alpha1.MirrorModeGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
			if tt.headless {
				remote.Spec.ClusterIP = corev1.ClusterIPNone
			}
			r := remoteService{Service: remote, Healthy: true, Slices: []discoveryv1.EndpointSlice{{
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.19.1.7"}, Hostname: &hostname}},
			}}}
			set, err := desiredMirrors(link, key, tt.mode, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, svc := range append([]*corev1.Service{set.Service}, set.PodServices...) {
				if got := svc.Labels[mcv1alpha1.LabelMirrorMode]; got != tt.want {
					t.Errorf("%s: label %s = %q, want %q", svc.Name, mcv1alpha1.LabelMirrorMode, got, tt.want)
				}
			}
			if tt.headless && len(set.PodServices) != 1 {
				t.Errorf("per-pod mirrors %d, want 1", len(set.PodServices))
			}
		})
	}
}
