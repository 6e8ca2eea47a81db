// Package iptables writes the rules of the proxy's init step: in a pod's network namespace,
// nat-table rules that REDIRECT the pod's outbound TCP to the proxy's outbound port (4140) and
// its inbound TCP to the proxy's inbound port (4143), as Linkerd's proxy-init does, in chains
// of our own (MESHFED_INBOUND, MESHFED_OUTPUT and their _REDIRECT targets). The proxy finds the
// address the application meant with SO_ORIGINAL_DST (package origdst).
//
// Left alone: the proxy's own traffic (matched by its UID, so it can reach the real
// destination), loopback (127.0.0.0/8, ::1 and anything routed out of lo, so the proxy can hand
// inbound connections to the application on localhost), and the inbound ports, outbound ports
// and outbound CIDRs the Config names.
//
// Rules renders a Config as iptables-restore input, a pure function; Apply installs it in the
// current network namespace in one iptables-restore --noflush transaction, rebuilding our
// chains and adding the jumps to them only where they are missing, so running it twice leaves
// the same rules. It works with iptables-nft and iptables-legacy and picks the one that works
// unless told which.
//
// It does not remove rules (a pod's network namespace dies with the pod), touch any table but
// nat, or handle UDP: DNS and other UDP go to their destinations as they would without a mesh.
// It must run in the pod's network namespace with NET_ADMIN; it never enters a namespace itself.
package iptables
