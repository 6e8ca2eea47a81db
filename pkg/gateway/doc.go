// Package gateway is the east-west gateway: the one way into a cluster for meshed traffic from
// the other clusters of the federation.
//
// A caller is another cluster's proxy. It opens mTLS (TLS 1.3, ALPN "meshfed.io/gateway") to
// the gateway's listener (port 4143) and must present a certificate that chains to the trust
// bundle: without one, the handshake fails. Its SPIFFE ID's trust domain must be on the allow
// list of remote clusters; a caller that is not gets 403 on every stream, with the reason in
// the Meshfed-Gateway-Reason header. The session is HTTP/2; each stream is a CONNECT whose
// :authority names a Service of this cluster, <svc>.<ns>.svc.<cluster-domain>:<port>, checked
// strictly (400 otherwise). The gateway resolves it with the destination service (404 for a
// Service the mesh does not know, 503 with no ready endpoint), picks a ready endpoint with
// the proxy's balancer, dials the pod's address (where the pod's iptables send it to its
// proxy's inbound port), answers 200 and copies bytes both ways. Inside the stream runs the
// caller's own mTLS session with the pod's proxy: the gateway cannot read it, and the pod's
// proxy sees the real client identity and applies its policy to it.
//
// It does not terminate, inspect or re-encrypt what a tunnel carries; it does not forward to
// anything but a meshed pod of its own cluster (no IP addresses, no other domains, no
// endpoint without an identity, no other gateway); it does not enforce workload policy
// (the destination's proxy does); it does not get certificates (package certs does) or watch
// the cluster (the destination service does).
package gateway
