// Package iptables writes the rules of the proxy's init step: in a pod's network namespace,
// nat rules that REDIRECT the pod's outbound TCP to the proxy's outbound port (4140) and its
// inbound TCP to the proxy's inbound port (4143), as Linkerd's proxy-init does. The proxy finds
// the address the application meant with SO_ORIGINAL_DST (package origdst).
//
// Left alone: the proxy's own traffic (matched by its UID, so it can reach the real
// destination), loopback (127.0.0.0/8, ::1 and anything routed out of lo, so the proxy can hand
// inbound connections to the application on localhost), and the inbound ports, outbound ports
// and outbound CIDRs the Config names.
//
// The rules go in through one of two kinds of backend, with the same meaning:
//
//   - iptables (ModeNFT, ModeLegacy): chains of our own in the nat table (MESHFED_INBOUND,
//     MESHFED_OUTPUT and their _REDIRECT targets). Rules renders a Config as iptables-restore
//     input, a pure function; Apply installs it in one iptables-restore --noflush transaction,
//     rebuilding our chains and adding the jumps to them only where they are missing. It
//     needs the iptables binaries, nft or legacy flavour.
//   - native (ModeNative): no binary. Tables of our own, "ip meshfed" and, with IPv6,
//     "ip6 meshfed", each with a nat prerouting and a nat output chain, programmed through
//     netlink (github.com/google/nftables). Apply replaces them in one batch, which the kernel
//     applies whole or not at all, and reads them back; NativeRules is the same tables as
//     `nft list table` prints them, a pure function, and ReadNative what the kernel holds. Our
//     images have no iptables binary, so in a pod of ours this is the backend that works.
//
// ModeAuto, the default, keeps a namespace on the backend that holds our rules already and
// otherwise takes the native one where nftables works (see ModeAuto). Either way running Apply
// twice leaves the same rules, and never touches rules or tables that are not ours. The native
// backend lives here rather than in a package of its own because it shares everything else:
// the Config and what it means, the choice between backends, and the errors proxy init shows.
//
// It does not remove rules (a pod's network namespace dies with the pod; the native backend
// does delete a stale ip6 table of ours when IPv6 is off), touch any table but nat (iptables)
// or our own (native), or handle UDP: DNS and other UDP go to their destinations as they would
// without a mesh. It must run in the pod's network namespace with NET_ADMIN; it never enters a
// namespace itself, and netlink sockets are opened in the calling thread's namespace.
package iptables
