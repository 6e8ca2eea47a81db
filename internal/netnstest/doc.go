// Package netnstest gives tests network namespaces of their own, joined by veth pairs, so a
// test can install iptables rules and make real TCP connections without touching the host's
// network: every namespace and link it makes lives only inside the test's namespaces, and is
// removed when the test ends, failed or not.
//
// Code runs inside a namespace on a locked OS thread (NS.Do), so sockets opened there belong to
// it and child processes started there inherit it. That thread is never handed back to Go's
// scheduler: it ends with its goroutine, so nothing else ever runs in the namespace by
// accident.
//
// It is for tests only, and needs root; Require skips a test that does not have it. It does not
// configure routes beyond the veth's own subnet, or anything outside the namespaces it made.
package netnstest
