package inject

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestWorkloadOfPod(t *testing.T) {
	owner := func(apiVersion, kind, name string, controller bool) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: ptr.To(controller)}}
	}
	tests := []struct {
		name string
		meta metav1.ObjectMeta
		want string
	}{
		{"deployment", metav1.ObjectMeta{OwnerReferences: owner("apps/v1", "ReplicaSet", "web-5d8f7c", true), Labels: map[string]string{"pod-template-hash": "5d8f7c"}}, "deployment/web"},
		{"replicaset of its own", metav1.ObjectMeta{OwnerReferences: owner("apps/v1", "ReplicaSet", "web", true)}, "replicaset/web"},
		{"hash that does not end the name", metav1.ObjectMeta{OwnerReferences: owner("apps/v1", "ReplicaSet", "web-abc", true), Labels: map[string]string{"pod-template-hash": "xyz"}}, "replicaset/web-abc"},
		{"statefulset", metav1.ObjectMeta{OwnerReferences: owner("apps/v1", "StatefulSet", "db", true)}, "statefulset/db"},
		{"job", metav1.ObjectMeta{OwnerReferences: owner("batch/v1", "Job", "backup-29000000", true)}, "job/backup-29000000"},
		{"owner that is not the controller", metav1.ObjectMeta{Name: "debug", OwnerReferences: owner("v1", "ConfigMap", "x", false)}, "pod/debug"},
		{"bare pod", metav1.ObjectMeta{Name: "debug"}, "pod/debug"},
		{"bare pod with generateName", metav1.ObjectMeta{GenerateName: "debug-"}, "pod/debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WorkloadOfPod(tt.meta); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}
