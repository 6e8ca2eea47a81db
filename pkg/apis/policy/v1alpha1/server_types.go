package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ProxyProtocol is how the proxy reads a Server's traffic.
//
// +kubebuilder:validation:Enum=unknown;HTTP/1;HTTP/2;gRPC;opaque
type ProxyProtocol string

const (
	// ProxyProtocolUnknown: the proxy detects HTTP/1, HTTP/2 and gRPC, else treats the bytes
	// as opaque. Detection waits for the client to speak first, so a protocol where the
	// server speaks first (SMTP, MySQL) must be declared opaque.
	ProxyProtocolUnknown ProxyProtocol = "unknown"
	ProxyProtocolHTTP1   ProxyProtocol = "HTTP/1"
	ProxyProtocolHTTP2   ProxyProtocol = "HTTP/2"
	ProxyProtocolGRPC    ProxyProtocol = "gRPC"
	// ProxyProtocolOpaque: the proxy forwards bytes without reading them.
	ProxyProtocolOpaque ProxyProtocol = "opaque"
)

// Server picks one port of some pods of its namespace. Once a Server picks a port, the port
// is denied to every client except those an AuthorizationPolicy targeting the Server (or the
// namespace) lets in; ports no Server picks follow the proxy's default policy.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=meshfed;meshfed-policy,shortName=srv
// +kubebuilder:printcolumn:name="Port",type=string,JSONPath=`.spec.port`
// +kubebuilder:printcolumn:name="Protocol",type=string,JSONPath=`.spec.proxyProtocol`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Server struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ServerSpec `json:"spec"`
}

// ServerSpec says which pods and which of their ports.
type ServerSpec struct {
	// PodSelector selects the pods of the Server's namespace; {} selects them all.
	PodSelector metav1.LabelSelector `json:"podSelector"`

	// Port is a port number, or the name of a container port of the selected pods (a pod
	// with no container port of that name is not selected).
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 && self <= 65535 : self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.matches('[a-z]') && size(self) <= 15",message="port must be a number from 1 to 65535 or a container port name (at most 15 lower-case letters, digits and '-', with a letter, such as http)"
	Port intstr.IntOrString `json:"port"`

	// ProxyProtocol is how the proxy reads the traffic: unknown (detect), HTTP/1, HTTP/2,
	// gRPC or opaque.
	// +kubebuilder:default=unknown
	// +optional
	ProxyProtocol ProxyProtocol `json:"proxyProtocol,omitempty"`
}

// ServerList is a list of Servers.
//
// +kubebuilder:object:root=true
type ServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Server `json:"items"`
}
