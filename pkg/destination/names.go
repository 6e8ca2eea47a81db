package destination

import "github.com/meshfed/meshfed/pkg/workload"

// Names shared with the proxy injector, from package workload.
const (
	ProxyContainerName = workload.ProxyContainerName
	// InitContainerName is the name of the init container that sets up iptables.
	InitContainerName = "meshfed-init"
	InjectAnnotation  = workload.InjectAnnotation
	InjectEnabled     = workload.InjectEnabled
)

const (
	// Port is the destination service's gRPC port.
	Port = 8086
	// DefaultClusterDomain is the cluster's DNS domain unless told otherwise.
	DefaultClusterDomain = "cluster.local"
	// ClusterSetDomain is the clusterset's DNS domain (KEP-1645): <svc>.<ns>.svc.clusterset.local
	// names a ServiceImport.
	ClusterSetDomain = "clusterset.local"
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
