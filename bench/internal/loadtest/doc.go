// Package loadtest holds what the benches of proxies share: fortio, built as a tool, as the
// load generator and the apps (its HTTP echo and gRPC ping servers), and the children a bench
// starts, with their output kept for errors and their memory read from /proc, and the
// certificates those children hold in place of the identity service's.
//
// It does not decide what to measure or print a table: each bench does.
package loadtest
