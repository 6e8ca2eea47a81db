package trust

import (
	"fmt"
	"time"
)

// Names of the Kubernetes objects that carry the trust anchor, the issuers and the
// bundle. `mesh trust` makes them; the identity service and the proxies read them.
const (
	// Namespace is the control plane's namespace: the issuer Secret, its Certificate and
	// the bundle ConfigMap live there.
	Namespace = "mesh-system"

	// AnchorSecretName is the Secret (kubernetes.io/tls) that holds the anchor and its key
	// for cert-manager, in cert-manager's namespace.
	AnchorSecretName = "meshfed-trust-anchor"
	// AnchorIssuerName is the CA ClusterIssuer that signs with the anchor.
	AnchorIssuerName = "meshfed-trust-anchor"
	// DefaultCertManagerNamespace is where cert-manager looks for a ClusterIssuer's Secret
	// unless it was installed with another --cluster-resource-namespace.
	DefaultCertManagerNamespace = "cert-manager"

	// IssuerCertificateName is the cert-manager Certificate that makes the issuer Secret.
	IssuerCertificateName = "meshfed-identity-issuer"
	// IssuerSecretName is the Secret (kubernetes.io/tls) the identity service signs with:
	// tls.crt the issuer and its chain, tls.key its key, ca.crt the anchor above it.
	IssuerSecretName = "meshfed-identity-issuer"

	// BundleConfigMapName is the ConfigMap holding the anchors a cluster trusts, under
	// BundleKey, as PEM. It is not a Secret: it holds no key, and every proxy reads it.
	BundleConfigMapName = "meshfed-trust-bundle"
	BundleKey           = "ca-bundle.crt"

	// PartOfLabel and PartOfValue mark every object meshfed makes.
	PartOfLabel = "app.kubernetes.io/part-of"
	PartOfValue = "meshfed"
)

// Lifetimes of the certificates below the anchor.
const (
	// LeafTTL is how long a workload's leaf lives; proxies renew it at 70% of its life.
	LeafTTL = 24 * time.Hour
	// IssuerDuration is the life of an issuer cert-manager makes, and IssuerRenewBefore
	// when it renews it. Renewing 25h before the end leaves more than one LeafTTL of
	// validity, so a leaf (capped at its issuer's NotAfter) always gets its full 24h.
	IssuerDuration    = 48 * time.Hour
	IssuerRenewBefore = 25 * time.Hour
	// DefaultIssuerValidity is the life of an issuer made by hand, without cert-manager.
	DefaultIssuerValidity = 365 * 24 * time.Hour
	// DefaultAnchorValidity is the life of an anchor: ten years, as it is rotated by hand.
	DefaultAnchorValidity = 10 * 365 * 24 * time.Hour
)

// DefaultTrustDomain is the trust domain of the cluster named cluster. Each cluster has its
// own, so that ns/sa names in two clusters never name the same identity.
func DefaultTrustDomain(cluster string) string { return cluster + ".meshfed.local" }

// IssuerCommonName is the common name of the issuer of the cluster named cluster.
func IssuerCommonName(cluster string) string { return "identity." + cluster + ".meshfed" }

// ValidateClusterName checks that cluster can name a cluster: a DNS-1123 label, as it
// becomes the first label of the cluster's trust domain. The error does not name a flag:
// callers add theirs.
func ValidateClusterName(cluster string) error {
	switch {
	case cluster == "":
		return fmt.Errorf("cluster name is empty: give the name the federation knows the cluster by, such as west")
	case len(cluster) > 63:
		return fmt.Errorf("cluster name %q is %d characters long: a DNS label holds at most 63", cluster, len(cluster))
	case !isDNSLabel(cluster):
		return fmt.Errorf("cluster name %q is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending with a letter or digit, such as west or eu-west-1", cluster)
	}
	return nil
}
