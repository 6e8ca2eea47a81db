// Package install is `mesh install`: it prints the control plane of one cluster (the identity
// service and the proxy injector) for kubectl apply, rendered for that cluster's name and
// trust domain.
//
// It reads no cluster and changes none. It does not make the trust the control plane needs:
// `mesh trust cluster` does, and is applied first.
package install
