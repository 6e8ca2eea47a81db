package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The well-known properties of KEP-2149.
const (
	// ClusterIDProperty holds the cluster's name, unique in its clusterset for as long as
	// it is a member: meshfed's cluster name (the Link's targetClusterName, the
	// multicluster.kubernetes.io/source-cluster of what it exports).
	ClusterIDProperty = "cluster.clusterset.k8s.io"
	// ClusterSetProperty holds the name of the clusterset the cluster is a member of.
	ClusterSetProperty = "clusterset.k8s.io"
)

// ClusterProperty is one property of the cluster it is in: a name and a value.
//
// about.k8s.io is a group the apiserver protects: its CRD names the approved KEP, as
// sigs.k8s.io/about-api's does.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=https://github.com/kubernetes/enhancements/pull/3084"
// +kubebuilder:printcolumn:name="Value",type=string,JSONPath=`.spec.value`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterProperty struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterPropertySpec `json:"spec"`
}

// ClusterPropertySpec holds the property's value.
type ClusterPropertySpec struct {
	// Value is the property's value.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128000
	Value string `json:"value"`
}

// ClusterPropertyList is a list of ClusterProperty.
//
// +kubebuilder:object:root=true
type ClusterPropertyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterProperty `json:"items"`
}
