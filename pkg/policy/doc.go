// Package policy decides whether an inbound connection to a meshed pod is allowed, from the
// policy.meshfed.io objects of the pod's namespace. It is pure Go: no cluster, no clock, no
// network.
//
// The semantics are Linkerd's: a port some Server selects is denied unless an
// AuthorizationPolicy targeting that Server, or the namespace, has every one of its required
// authentications satisfied by the client; a port no Server selects follows the default
// policy the proxy was given (all-unauthenticated, all-authenticated or deny). Identities
// carry their cluster's trust domain, so a workload of another cluster of the federation is
// allowed by naming it, spiffe://east.meshfed.local/ns/shop/sa/cart, in a
// MeshTLSAuthentication; a ServiceAccount reference always means this cluster's trust domain.
//
// Work is split in two. Compile turns one namespace's objects into an Index, once per change:
// it checks them (naming the object and field at fault), resolves references and renders
// every reason a decision can give. Index.Authorize then runs per connection, allocates
// nothing and only compares.
//
// It deliberately does not watch the apiserver (whoever holds the objects calls Compile
// again when they change), verify certificates (the caller passes the identity its TLS stack
// verified against the trust bundle, or nil for plaintext), or look inside requests: policy
// is per connection, as Servers and their ports are, with no HTTP routes.
package policy
