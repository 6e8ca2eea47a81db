// Package origdst tells the proxy where a connection it accepted was going before the pod's
// iptables rules (package iptables) redirected it: the kernel's NAT record, read with the
// SO_ORIGINAL_DST socket option (IP6T_SO_ORIGINAL_DST for IPv6).
//
// It reads; it does not redirect, and it does not resolve the address to a service (the
// destination service does). It is Linux only, as the rules it reads are.
package origdst
