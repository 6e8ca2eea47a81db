package destination

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/pkg/workload"
)

func TestWorkloadOf(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"deployment", pod("ns", "p", ownedBy("ReplicaSet", "web-5d8f9c")), "deployment/web"},
		{"bare ReplicaSet", pod("ns", "p", ownedBy("ReplicaSet", "web"), func(p *corev1.Pod) { p.Labels = nil }), "replicaset/web"},
		{"statefulset", pod("ns", "p", ownedBy("StatefulSet", "db")), "statefulset/db"},
		{"daemonset", pod("ns", "p", ownedBy("DaemonSet", "agent")), "daemonset/agent"},
		{"no controller", pod("ns", "p", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1"}}
		}), ""},
		{"none", pod("ns", "p"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workloadOf(tt.pod); got != tt.want {
				t.Errorf("workloadOf = %q, want %q", got, tt.want)
			}
		})
	}
}

// The transform keeps what endpoints are made of, and is idempotent, as client-go needs.
func TestSlimPod(t *testing.T) {
	p := pod("ns", "web-a", withNativeSidecar, withSA("web"), ownedBy("ReplicaSet", "web-5d8f9c"), func(p *corev1.Pod) {
		p.Annotations = map[string]string{InjectAnnotation: InjectEnabled, "big": "x"}
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}}
	})
	s := workload.Slim(p)
	if !factsOf(s).equal(factsOf(p)) || s.Name != p.Name || s.Namespace != p.Namespace {
		t.Errorf("slim pod %+v lost facts of %+v", factsOf(s), factsOf(p))
	}
	if len(s.Annotations) != 1 || s.ManagedFields != nil || s.Status.Conditions != nil || len(s.Spec.InitContainers) != 1 {
		t.Errorf("slim pod kept too much: %+v", s)
	}
	if again := workload.Slim(s); !equality.Semantic.DeepEqual(again, s) {
		t.Error("Slim is not idempotent")
	}
}
