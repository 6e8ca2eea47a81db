package destination

// Names shared with the proxy injector: a pod is meshed when it has the proxy container, as
// the injector adds it, or asks for it with the annotation.
const (
	// ProxyContainerName is the name of the proxy container the injector adds (a native
	// sidecar, that is an init container, where the cluster supports it).
	ProxyContainerName = "meshfed-proxy"
	// InitContainerName is the name of the init container that sets up iptables.
	InitContainerName = "meshfed-init"
	// InjectAnnotation, set to InjectEnabled on a pod template or namespace, asks for the
	// proxy.
	InjectAnnotation = "meshfed.io/inject"
	InjectEnabled    = "enabled"
)

const (
	// Port is the destination service's gRPC port.
	Port = 8086
	// DefaultClusterDomain is the cluster's DNS domain unless told otherwise.
	DefaultClusterDomain = "cluster.local"
	// DefaultWeight is the weight of an ordinary endpoint (see Endpoint.weight).
	DefaultWeight = 10000
	// ServiceAccount is the destination service's own, which names its serving certificate.
	ServiceAccount = "meshfed-destination"
)

// Labels put on endpoints for the proxy's metrics (dst_<key>).
const (
	labelPod            = "pod"
	labelNamespace      = "namespace"
	labelWorkload       = "workload"
	labelService        = "service"
	labelServiceAccount = "serviceaccount"
	labelZone           = "zone"
	labelCluster        = "cluster"
)
