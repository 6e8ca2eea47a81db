// Package trust is meshfed's PKI in pure Go: SPIFFE workload identities, the federation's
// trust anchor and each cluster's issuer (an intermediate CA), the leaves the identity
// service signs from proxies' CSRs, and bundles of anchors that verify them.
//
// One anchor signs every cluster's issuer; each cluster has a trust domain of its own
// (DefaultTrustDomain), so that the same namespace and ServiceAccount in two clusters are
// two identities. A bundle may hold several anchors, so that an anchor is rotated by
// trusting the new one everywhere before any issuer uses it.
//
// It also names the Kubernetes objects that carry these (the issuer Secret, the bundle
// ConfigMap), as plain strings, so that the identity service and the proxies can find
// them without importing any Kubernetes or cert-manager type.
//
// It deliberately does not talk to a cluster, read files or keep time: callers pass bytes
// and the current time, so everything here is deterministic but for key generation. It
// does not decide who may have which identity (the identity service checks tokens), and
// it does not build the Kubernetes objects themselves: that is pkg/trust/certmanager,
// kept apart so that users of this package do not compile cert-manager's API.
package trust
