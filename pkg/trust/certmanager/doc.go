// Package certmanager builds the Kubernetes objects that put meshfed's trust in a cluster,
// for `mesh trust` to print for kubectl apply:
//
//   - with cert-manager: the anchor Secret in cert-manager's namespace, the CA
//     ClusterIssuer that signs with it, and the Certificate from which cert-manager makes
//     and renews the cluster's issuer Secret;
//   - without: the issuer Secret itself, made by the caller with trust.NewIssuer;
//   - either way: the namespace mesh-system and the trust-bundle ConfigMap.
//
// It is a package of its own, not part of pkg/trust, because it imports cert-manager's API
// types (github.com/cert-manager/cert-manager, which brings sigs.k8s.io/gateway-api with
// it): the identity service and the proxies import pkg/trust, and need neither. The
// objects' names are in pkg/trust, as strings, for the same reason.
//
// It does not talk to a cluster, make keys or read files: callers hand it the CAs and the
// bundle, and apply what it returns.
package certmanager
