// Package install is `mesh install`: it prints the control plane of one cluster (the identity
// service, the destination service and the proxy injector) for kubectl apply, rendered for
// that cluster's name and trust domain.
//
// It reads no cluster and changes none. The trust the control plane needs (the issuer Secret
// and the trust bundle ConfigMap) comes from elsewhere with --identity-external-issuer
// (`mesh trust cluster --cert-manager`, or any tool), or is made from the anchor of --anchor
// the way `mesh trust cluster` makes it without cert-manager, and printed with the rest.
package install
