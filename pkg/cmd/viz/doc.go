// Package viz is `mesh viz`: it prints the metrics stack of a cluster (install), reads the
// viz API for golden metrics per workload and per edge (stat, edges, top), and serves the
// dashboard page on this machine (dashboard).
//
// The commands read the viz API through the API server's service proxy of the cluster that
// --context names (so they need the right to proxy to the Service meshfed-viz in
// mesh-viz, and nothing else), or at --api-url. They never query Prometheus themselves:
// the viz API (package pkg/viz) is the one place that knows the metrics.
package viz
