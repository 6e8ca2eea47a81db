package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TargetKind is the kind of object an AuthorizationPolicy applies to.
//
// +kubebuilder:validation:Enum=Server;Namespace
type TargetKind string

const (
	// TargetServer: the policy applies to the Server it names.
	TargetServer TargetKind = "Server"
	// TargetNamespace: the policy applies to every Server of its own namespace. It does not
	// open ports that no Server picks: those follow the default policy.
	TargetNamespace TargetKind = "Namespace"
)

// AuthenticationKind is the kind of object a required authentication names.
//
// +kubebuilder:validation:Enum=MeshTLSAuthentication;NetworkAuthentication;ServiceAccount
type AuthenticationKind string

const (
	KindMeshTLSAuthentication AuthenticationKind = "MeshTLSAuthentication"
	KindNetworkAuthentication AuthenticationKind = "NetworkAuthentication"
	// KindServiceAccount passes a client whose mTLS identity is that ServiceAccount's in this
	// cluster's trust domain. A workload of another cluster needs a MeshTLSAuthentication.
	KindServiceAccount AuthenticationKind = "ServiceAccount"
)

// AuthorizationPolicy lets a client reach a Server (or every Server of the namespace) when
// the client passes all the authentications it requires. A client that several policies
// target is let in when any one of them is satisfied.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=meshfed;meshfed-policy,shortName=authzpolicy
// +kubebuilder:printcolumn:name="Target Kind",type=string,JSONPath=`.spec.targetRef.kind`
// +kubebuilder:printcolumn:name="Target Name",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AuthorizationPolicySpec `json:"spec"`
}

// AuthorizationPolicySpec names what the policy opens, and to whom.
type AuthorizationPolicySpec struct {
	// TargetRef is the Server the policy opens, or the policy's own namespace for all of its
	// Servers.
	TargetRef TargetRef `json:"targetRef"`

	// RequiredAuthenticationRefs must all pass for a client to be let in. There is no empty
	// list meaning "everyone": to open a Server to every client, require a
	// NetworkAuthentication of 0.0.0.0/0 and ::/0, so that doing it is a visible choice.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	RequiredAuthenticationRefs []AuthenticationRef `json:"requiredAuthenticationRefs"`
}

// TargetRef names the object an AuthorizationPolicy applies to, in the policy's namespace.
//
// +kubebuilder:validation:XValidation:rule="self.kind != 'Server' || (has(self.name) && size(self.name) > 0)",message="name is required when kind is Server: give the name of a Server in the policy's namespace"
type TargetRef struct {
	// Kind is Server or Namespace.
	Kind TargetKind `json:"kind"`

	// Name is the Server's name. For kind Namespace it may be left out; if given, it must be
	// the policy's own namespace: a policy never opens another namespace's ports.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Name string `json:"name,omitempty"`
}

// AuthenticationRef names an authentication a client must pass.
//
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__) || self.kind == 'ServiceAccount'",message="namespace is only for kind ServiceAccount: a MeshTLSAuthentication or NetworkAuthentication must be in the policy's namespace"
type AuthenticationRef struct {
	// Kind is MeshTLSAuthentication, NetworkAuthentication or ServiceAccount.
	Kind AuthenticationKind `json:"kind"`

	// Name is the object's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace is a ServiceAccount's namespace; the policy's own when left out.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AuthorizationPolicyList is a list of AuthorizationPolicies.
//
// +kubebuilder:object:root=true
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthorizationPolicy `json:"items"`
}
