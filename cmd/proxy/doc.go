// Command proxy is meshfed's sidecar proxy binary. Its first argument names a command, each
// in a file of its own here; main.go only dispatches. The logic lives in pkg/proxy, and only
// flag parsing and wiring are here.
//
//	proxy init    the pod's init step: rules that send its TCP through the proxy, as
//	              nftables tables through netlink or with iptables (pkg/proxy/iptables); it
//	              changes the network namespace it runs in, so outside a pod use --dry-run
package main
