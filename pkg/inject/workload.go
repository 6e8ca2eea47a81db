package inject

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadOfPod names the workload of a pod from its controller, as the webhook sees a pod
// being made: a ReplicaSet's pod is its Deployment's ("deployment/web" for the ReplicaSet
// web-5d8f7c, whose pods carry pod-template-hash 5d8f7c), any other controller's pod is that
// controller's ("statefulset/db"), and a pod with no controller is its own ("pod/debug").
func WorkloadOfPod(meta metav1.ObjectMeta) string {
	if owner := metav1.GetControllerOfNoCopy(&meta); owner != nil {
		if owner.Kind == "ReplicaSet" && strings.HasPrefix(owner.APIVersion, "apps/") {
			if hash := meta.Labels["pod-template-hash"]; hash != "" && strings.HasSuffix(owner.Name, "-"+hash) {
				return Workload("Deployment", strings.TrimSuffix(owner.Name, "-"+hash))
			}
		}
		return Workload(owner.Kind, owner.Name)
	}
	name := meta.Name
	if name == "" {
		// A pod made with generateName has no name yet when it is admitted.
		name = strings.TrimSuffix(meta.GenerateName, "-")
	}
	return Workload("Pod", name)
}
