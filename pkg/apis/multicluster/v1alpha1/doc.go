// Package v1alpha1 is the multicluster.meshfed.io API: the Link, which joins this cluster to
// a remote one so that the services the remote exports are mirrored here.
//
// It holds types, their defaults and validation markers, nothing else: the link controller in
// pkg/mirror acts on them. The CRD in deploy/crds is generated from these types
// (make generate).
//
// +kubebuilder:object:generate=true
// +groupName=multicluster.meshfed.io
package v1alpha1
