// Package proxy is the engine of the sidecar proxy (and, later, of the east-west gateway): it
// accepts what iptables redirects to it, finds out where each connection was going and what
// it speaks, and carries it there over mTLS to the peer proxy.
//
// Outbound (port 4140): HTTP/1.1 and HTTP/2 (gRPC included) are routed per request by
// authority, to an endpoint the destination service named, chosen by the balancer; HTTP
// travels between proxies multiplexed over one HTTP/2 connection per peer. Anything else is
// one TCP stream to the original destination's endpoint. A destination the mesh does not
// know is reached directly, as without a proxy.
//
// An endpoint of another cluster is reached through that cluster's east-west gateway (package
// gateway): one outer mTLS session per gateway (ALPN meshfed.io/gateway, HTTP/2), an HTTP/2
// CONNECT stream per tunnel naming the remote Service, and inside it the proxy's own mTLS with
// the remote proxy, in h2 or opaque as in the cluster. The gateway relays it unread.
//
// Inbound (port 4143): mTLS from a peer proxy is terminated, the peer's identity checked
// against the trust bundle and handed to policy; plaintext from an unmeshed client is allowed
// or refused by policy. Either way, what is allowed goes to the app on localhost.
//
// It does not set up iptables (package iptables does, in `proxy init`), obtain certificates
// (package certs does) or decide policy (package policy does; this package asks it).
package proxy
