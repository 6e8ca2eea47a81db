// Package membership tells the link controller, within about a second, whether the east-west
// gateway of a linked cluster is alive: every gateway of the federation is a member of one
// gossip pool (hashicorp/memberlist, SWIM with Lifeguard), and each member learns from the
// others, without a central prober, when one stops answering.
//
// memberlist's own transport sends its packets over UDP in the clear, authenticated at best by
// a shared key. Here every packet and every stream travels over mutual TLS 1.3 on TCP (one
// listener, the protocol chosen by ALPN), with the gateways' SPIFFE certificates: a peer must
// chain to the mesh's trust bundle and have an identity the caller allows, in both directions,
// or it is refused, logged and counted, and never becomes a member. No shared secret exists.
//
// What it does not do:
//   - It does not decide readiness: it reports Alive, Suspect, Dead and Left per member, and
//     ClusterAlive per cluster; the link controller marks mirrors not ready on Dead, and keeps
//     its HTTP probe of the gateway as the fallback when the pool cannot be reached at all.
//   - It does not find peers: the caller joins the addresses of the Links' gateways, and
//     retries when it likes.
//   - It does not bind a member's name or cluster to its certificate: any allowed identity
//     may claim any name. Allowed is the gate; a member that passed it is trusted to say who
//     it is, as a gateway of the federation is trusted with its traffic.
//   - It carries no application data (no user messages, no key-value state): only liveness.
//   - It does not resolve names: every address is an IP:port.
package membership
