package multicluster

import (
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// Names the manifests of deploy/multicluster and the link controller share with these
// commands.
const (
	// Namespace holds the link controller, the Links and their credentials Secrets, and the
	// remote reader.
	Namespace = "mesh-multicluster"
	// ControllerName is the link controller's Deployment and ServiceAccount.
	ControllerName = "link-controller"
	// RemoteReaderName is the ServiceAccount other clusters read this one as.
	RemoteReaderName = "remote-reader"
	// RemoteReaderTokenSecret holds the remote reader's long-lived token.
	RemoteReaderTokenSecret = "remote-reader-token"
	// GatewayServiceName is the east-west gateway's Service, and GatewayPortName the name
	// of its port.
	GatewayServiceName = "mesh-gateway"
	GatewayPortName    = "mesh-gateway"
	// GatewayProbePortName is the gateway Service's port that answers the Links' probes
	// (GET /ready), on GatewayProbePort by default.
	GatewayProbePortName = "mesh-probe"
	GatewayProbePort     = 4191
	// GatewayAdminServiceName is the local gateway's admin Service, whose GET /members
	// on GatewayAdminPortName says the gossip pool as that gateway sees it.
	GatewayAdminServiceName = "mesh-gateway-admin"
	GatewayAdminPortName    = "admin"
	// GatewayServiceAccount is the gateway's ServiceAccount, which names its identity.
	GatewayServiceAccount = "mesh-gateway"
	// LinkCRDName is the Link's CustomResourceDefinition.
	LinkCRDName = "links.multicluster.meshfed.io"

	// installCommand is the fix for whatever install makes and is missing.
	installCommand = "mesh multicluster install --cluster-name <this cluster> | kubectl apply -f -"

	// maxClusterNameLength bounds a cluster's name, as the Link's schema does, so that
	// mirrors <service>-<cluster> keep room for the service's name.
	maxClusterNameLength = 32
)

// CredentialsSecretName is the name of the Secret holding the credentials of the Link to
// cluster.
func CredentialsSecretName(cluster string) string { return "cluster-credentials-" + cluster }

// linkLabelValue is the value of the owner label the link controller puts on the mirrors of
// the Link namespace/name.
func linkLabelValue(namespace, name string) string { return namespace + "." + name }

var (
	linksGVR          = mcv1alpha1.GroupVersion.WithResource("links")
	serviceExportsGVR = mcsv1alpha1.SchemeGroupVersion.WithResource("serviceexports")
	crdsGVR           = cmdutil.CRDsGVR
	// clusterPropertiesGVR is KEP-2149's ClusterProperty: `mesh install --cluster-name`
	// writes the cluster's name in the one named cluster.clusterset.k8s.io.
	clusterPropertiesGVR = aboutv1alpha1.GroupVersion.WithResource("clusterproperties")
)
