// Package identityclient is the workload's side of the identity service: it makes a key,
// asks for a leaf with the pod's token, checks the answer, and reaches the service over TLS
// 1.3 checking its SPIFFE identity. Proxies use it.
//
// It imports nothing of Kubernetes, so that the proxy, which links it, stays small: the
// service's side, with its TokenReviews and informers, is package identity.
package identityclient
