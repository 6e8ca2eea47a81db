package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations the link controller puts on what it makes: the names on the wire of
// DESIGN.md.
const (
	// LabelExported on a Service exports it: "true" through the gateway, "remote-discovery"
	// flat, pod to pod.
	LabelExported = "mirror.meshfed.io/exported"
	// ExportedGateway and ExportedRemoteDiscovery are the values of LabelExported.
	ExportedGateway         = "true"
	ExportedRemoteDiscovery = "remote-discovery"
	// LabelFederated set to FederatedMember makes a Service a member of the federated
	// service of its name: every linked cluster has a Service "<name>-federated" whose
	// endpoints are its own member's, if it has one and it is ready, else the other members'
	// through their gateways.
	LabelFederated  = "mirror.meshfed.io/federated"
	FederatedMember = "member"
	// FederatedSuffix ends the name of a federated Service.
	FederatedSuffix = "-federated"

	// LabelMirroredService marks every Service and EndpointSlice the link controller made.
	LabelMirroredService = "mirror.meshfed.io/mirrored-service"
	// LabelClusterName names the remote cluster a mirror comes from.
	LabelClusterName = "mirror.meshfed.io/cluster-name"
	// LabelLink names the Link ("<namespace>.<name>") that owns a mirror: the controller
	// touches nothing without it.
	LabelLink = "multicluster.meshfed.io/link"
	// LabelRemoteName is the remote Service a mirror stands for.
	LabelRemoteName = "mirror.meshfed.io/remote-name"
	// LabelHeadlessMirror marks the per-pod mirrors of a headless Service, naming it.
	LabelHeadlessMirror = "mirror.meshfed.io/headless-mirror-of"
	// LabelMirrorMode says how a mirror's endpoints are reached: MirrorModeGateway (they are
	// the remote gateway's addresses) or MirrorModeRemoteDiscovery (the remote pods').
	LabelMirrorMode           = "mirror.meshfed.io/mode"
	MirrorModeGateway         = "gateway"
	MirrorModeRemoteDiscovery = "remote-discovery"
	// MirrorModeFederated marks a federated Service and its EndpointSlices, one per linked
	// cluster that has a member, each at that cluster's gateway. The slice, not the Service,
	// carries the remote annotations, as each member is in another cluster.
	MirrorModeFederated = "federated"
	// MirrorModeLocal marks a clusterset Service's EndpointSlice of this cluster's own
	// member: its pods, copied from the exported Service's slices, reached directly.
	MirrorModeLocal = "local"
	// MirrorModePodMirrors marks the EndpointSlice of a headless clusterset Service's member
	// reached through its cluster's gateway: its endpoints are the per-pod mirrors' cluster
	// IPs (LabelHeadlessMirror), each under its pod's hostname, so that
	// <hostname>.<cluster>.<svc>.<ns>.svc.clusterset.local names one pod of another cluster
	// as <hostname>.<svc>-<cluster>.<ns>.svc.cluster.local does.
	MirrorModePodMirrors = "pod-mirrors"

	// ClusterSetSuffix ends the name of the Service derived from a ServiceImport: its
	// ClusterIP is the ServiceImport's ClusterSetIP, and its EndpointSlices are the
	// clusterset's members', as a federated Service's are.
	ClusterSetSuffix = "-clusterset"
	// LabelClusterSetIPRange set to "true" on a ServiceCIDR (networking.k8s.io/v1) makes its
	// addresses this cluster's ClusterSetIPs: the link controller gives each derived Service
	// the lowest free one. ClusterSetIPRangeName is the one `mesh multicluster install`
	// makes; a full range is extended by labelling another (a ServiceCIDR's CIDRs cannot
	// change).
	LabelClusterSetIPRange = "multicluster.meshfed.io/clusterset-ip-range"
	ClusterSetIPRangeName  = "meshfed-clusterset"
	// AnnotationExport, on a clusterset member's EndpointSlice, is what the member's
	// ServiceExport and Service say that members may disagree on, for the oldest export to
	// win (KEP-1645): see FormatExport.
	AnnotationExport = "mirror.meshfed.io/export"

	// AnnotationRemoteSvcFQName is the remote Service's name in its cluster's DNS.
	AnnotationRemoteSvcFQName = "mirror.meshfed.io/remote-svc-fq-name"
	// AnnotationRemoteGatewayIdentity is the identity the remote gateway presents.
	AnnotationRemoteGatewayIdentity = "mirror.meshfed.io/remote-gateway-identity"
	// AnnotationRemoteIdentities lists the server identities behind the remote Service.
	AnnotationRemoteIdentities = "mirror.meshfed.io/remote-identities"
	// AnnotationRemotePorts, on a federated Service's EndpointSlice, lists the ports of the
	// member it stands for ("name=port/protocol,..."): the federated Service has them all.
	AnnotationRemotePorts = "mirror.meshfed.io/remote-ports"
	// AnnotationEndpointIdentities, on a remote-discovery mirror's EndpointSlice, gives the
	// identity of each meshed remote pod ("<address>=<spiffe id>,..."), which a proxy demands
	// when it calls that pod directly over mTLS.
	AnnotationEndpointIdentities = "mirror.meshfed.io/endpoint-identities"
	// AnnotationRemoteResourceVersion is the remote Service's resourceVersion last mirrored.
	AnnotationRemoteResourceVersion = "mirror.meshfed.io/remote-resource-version"

	// CredentialsKey is the key of the kubeconfig in a Link's credentials Secret.
	CredentialsKey = "kubeconfig"
	// DefaultGatewayPort is the east-west gateway's port.
	DefaultGatewayPort = 4143
)

// Link joins this cluster to a remote one: the link controller watches the remote cluster
// with the Link's read-only credentials and keeps, here, a mirror of every Service it
// exports.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=meshfed
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.targetClusterName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Mirrors",type=integer,JSONPath=`.status.mirroredServices`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Link struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LinkSpec   `json:"spec"`
	Status LinkStatus `json:"status,omitempty"`
}

// LinkSpec says which cluster to link to, with what credentials, and what to take.
//
// +kubebuilder:validation:XValidation:rule="!has(self.gatewayAddresses) || size(self.gatewayAddresses) == size(self.gatewayAddresses.filter(a, self.gatewayAddresses.exists_one(b, a == b)))",message="gatewayAddresses must not repeat an address"
type LinkSpec struct {
	// TargetClusterName is the remote cluster's name; mirrors here are named
	// <service>-<targetClusterName>.
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="targetClusterName cannot change: delete the Link and make a new one"
	TargetClusterName string `json:"targetClusterName"`

	// TargetClusterDomain is the remote cluster's DNS domain.
	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	TargetClusterDomain string `json:"targetClusterDomain,omitempty"`

	// CredentialsSecret names the Secret, in the Link's namespace, whose key "kubeconfig"
	// reaches the remote cluster as a read-only ServiceAccount.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecret string `json:"credentialsSecret"`

	// GatewayAddresses are the remote east-west gateway's addresses: mirrors of gateway-mode
	// exports send their traffic there.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	GatewayAddresses []string `json:"gatewayAddresses,omitempty"`

	// GatewayPort is the remote gateway's port.
	// +kubebuilder:default=4143
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	GatewayPort int32 `json:"gatewayPort,omitempty"`

	// GatewayIdentity is the identity the remote gateway presents, as
	// spiffe://<trust-domain>/ns/<ns>/sa/<sa>.
	// +kubebuilder:validation:XValidation:rule="self.startsWith('spiffe://')",message="gatewayIdentity must be a SPIFFE identity, spiffe://<trust-domain>/ns/<ns>/sa/<sa>"
	// +optional
	GatewayIdentity string `json:"gatewayIdentity,omitempty"`

	// Probe checks the remote gateway's health where gossip cannot flow.
	// +optional
	Probe *ProbeSpec `json:"probe,omitempty"`

	// Selector narrows the exported Services taken: only those whose labels it selects are
	// mirrored. Empty: every exported Service.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// ExcludedLabels and ExcludedAnnotations are keys not copied onto mirrors.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	ExcludedLabels []string `json:"excludedLabels,omitempty"`
	// +kubebuilder:validation:MaxItems=64
	// +optional
	ExcludedAnnotations []string `json:"excludedAnnotations,omitempty"`

	// CreateMissingNamespaces makes a namespace here for an export whose namespace does not
	// exist; otherwise the export is not mirrored, and the Link says so.
	// +optional
	CreateMissingNamespaces bool `json:"createMissingNamespaces,omitempty"`
}

// ProbeSpec is an HTTP probe of the remote gateway.
type ProbeSpec struct {
	// Path is the probed path.
	// +kubebuilder:default="/ready"
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`
	// Port is the probed port.
	// +kubebuilder:default=4191
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// Period is the time between probes.
	// +kubebuilder:default="3s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="period must be between 1s and 5m"
	// +optional
	Period metav1.Duration `json:"period,omitempty"`
	// FailureThreshold is how many failed probes in a row make the gateway dead.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// Condition types of a Link.
const (
	// LinkReady: the remote is watched and every export is mirrored.
	LinkReady = "Ready"
	// LinkCredentialsValid: the credentials Secret exists, parses and reaches the remote.
	LinkCredentialsValid = "CredentialsValid"
	// LinkRemoteReachable: the remote apiserver answers and its watches are synced.
	LinkRemoteReachable = "RemoteReachable"
	// LinkGatewayAlive: the remote gateway answers (only on a Link with spec.probe).
	LinkGatewayAlive = "GatewayAlive"
	// ServiceMirrored is the condition of one service in status.services.
	ServiceMirrored = "Mirrored"
)

// LinkStatus is what the link controller last saw and did.
type LinkStatus struct {
	// ObservedGeneration is the generation the status is about.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, CredentialsValid, RemoteReachable.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// MirroredServices counts the exports mirrored here.
	// +optional
	MirroredServices int32 `json:"mirroredServices,omitempty"`
	// Services holds one entry per export seen in the remote cluster, with a condition saying
	// whether it is mirrored here, and why not.
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +optional
	Services []ServiceStatus `json:"services,omitempty"`
}

// ServiceStatus is the state of one exported service's mirror.
type ServiceStatus struct {
	// Namespace and Name are the remote Service's.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Mirror is the local Service's name.
	// +optional
	Mirror string `json:"mirror,omitempty"`
	// Conditions: Mirrored.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LinkList is a list of Links.
//
// +kubebuilder:object:root=true
type LinkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Link `json:"items"`
}
