package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IdentityPattern is a client mTLS identity, or a set of them:
//
//	spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>   one workload identity
//	spiffe://<trust-domain>/ns/<namespace>/sa/*                   every ServiceAccount of a namespace
//	spiffe://<trust-domain>/ns/*/sa/*                             every identity of a trust domain
//	*                                                             every identity the mesh authenticates
//
// The trust domain is never a wildcard: it says which cluster the client runs in
// (<cluster>.meshfed.local by default), and the same namespace and ServiceAccount in two
// clusters are two identities.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=512
// +kubebuilder:validation:XValidation:rule="self == '*' || self.matches('^spiffe://[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/ns/([a-z0-9]([-a-z0-9]*[a-z0-9])?/sa/([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*|[*])|[*]/sa/[*])$')",message="an identity must be spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> in lower case, where * may stand for the service account (spiffe://east.meshfed.local/ns/shop/sa/*) or for both namespace and service account (spiffe://east.meshfed.local/ns/*/sa/*), or be * alone for any authenticated identity"
type IdentityPattern string

// AnyIdentity is the IdentityPattern of every identity the mesh authenticates.
const AnyIdentity IdentityPattern = "*"

// MeshTLSAuthentication passes a client whose mTLS identity it lists. A plaintext client
// never passes.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=meshfed;meshfed-policy,shortName=meshtlsauthn
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MeshTLSAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MeshTLSAuthenticationSpec `json:"spec"`
}

// MeshTLSAuthenticationSpec lists identities; a client passes when it has any of them.
//
// +kubebuilder:validation:XValidation:rule="(has(self.identities) && size(self.identities) > 0) || (has(self.identityRefs) && size(self.identityRefs) > 0)",message="give identities, identityRefs or both: an authentication that lists no one lets no one in"
type MeshTLSAuthenticationSpec struct {
	// Identities are SPIFFE identities or patterns of them, in any trust domain of the
	// federation: a workload in another cluster is named with that cluster's trust domain.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Identities []IdentityPattern `json:"identities,omitempty"`

	// IdentityRefs are ServiceAccounts of this cluster: each stands for its identity in this
	// cluster's trust domain.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	IdentityRefs []ServiceAccountRef `json:"identityRefs,omitempty"`
}

// ServiceAccountRef names a ServiceAccount of this cluster.
type ServiceAccountRef struct {
	// Name is the ServiceAccount's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace is the ServiceAccount's namespace; the authentication's own when left out.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CIDR is an IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8. A single address is
// written with its full length: 10.1.2.3/32. Host bits are ignored: 10.1.2.3/8 is 10.0.0.0/8.
//
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be a CIDR such as 10.0.0.0/8 or fd00::/8; write a single address as 10.1.2.3/32"
type CIDR string

// NetworkAuthentication passes a client whose source address is in one of its networks,
// with or without mTLS.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=meshfed;meshfed-policy,shortName=netauthn
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NetworkAuthenticationSpec `json:"spec"`
}

// NetworkAuthenticationSpec lists networks; a client passes when it is in any of them.
type NetworkAuthenticationSpec struct {
	// Networks are the networks clients may come from.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Networks []Network `json:"networks"`
}

// Network is a CIDR minus some of its parts.
//
// +kubebuilder:validation:XValidation:rule="!has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || cidr(self.cidr).containsCIDR(e))",message="each CIDR of except must lie within cidr (and be of its IP family)"
type Network struct {
	// CIDR is the network.
	CIDR CIDR `json:"cidr"`

	// Except are parts of the network that do not pass.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Except []CIDR `json:"except,omitempty"`
}

// MeshTLSAuthenticationList is a list of MeshTLSAuthentications.
//
// +kubebuilder:object:root=true
type MeshTLSAuthenticationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MeshTLSAuthentication `json:"items"`
}

// NetworkAuthenticationList is a list of NetworkAuthentications.
//
// +kubebuilder:object:root=true
type NetworkAuthenticationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkAuthentication `json:"items"`
}
