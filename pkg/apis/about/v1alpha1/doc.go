// Package v1alpha1 is the about.k8s.io API of KEP-2149 (ClusterId for ClusterSet
// identification): the ClusterProperty, a cluster-scoped name and value that says what a
// cluster is. meshfed reads and writes two of them: cluster.clusterset.k8s.io, the cluster's
// name in its clusterset, and clusterset.k8s.io, the clusterset's name.
//
// The types are defined here because sigs.k8s.io/about-api is not served by the Go module
// proxy; they follow that project's v1alpha1 (group about.k8s.io, kind ClusterProperty,
// spec.value), so the CRD here and the upstream one are the same resource. It holds types
// and their validation markers, nothing else. The CRD in deploy/crds is generated from them
// (make generate).
//
// +kubebuilder:object:generate=true
// +groupName=about.k8s.io
package v1alpha1
