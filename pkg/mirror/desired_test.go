package mirror

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
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
