// Package viz answers "how is the federation doing?" from the Prometheus of every cluster.
//
// Each cluster runs its own Prometheus scraping its proxies (admin port 4191), its east-west
// gateway and its control plane. A Source is one cluster's Prometheus; the Server asks every
// Source the same few PromQL queries side by side and joins the answers into:
//
//   - stats per workload: success rate, requests per second, latency p50/p95/p99 and the
//     share of requests carried over mTLS, from the inbound side of the workload's proxies
//     (what the workload served, whoever called);
//   - edges: who calls whom, from the outbound side of the caller's proxies (what the caller
//     saw, the gateway hop included). A call that crossed a gateway names the remote cluster
//     in its edge (deployment/web -> deployment/voting@east): the caller's proxy knows only
//     the remote Service, so the server takes the remote workload from the remote cluster's
//     inbound side, matched on the authority both proxies saw;
//   - time series of the last minutes per workload, for charts;
//   - links: each link controller's view of its remote and the proxies' gateway dials.
//
// It serves them as JSON (see Server) for `mesh viz` and the dashboard.
//
// It deliberately keeps no state and stores nothing: every answer is a fresh query, so the
// Prometheus retention is the only history. An answer costs one query per cluster, for
// every workload at once, never one per workload; with the recording rules (RecordingRules)
// loaded, that query reads one series per workload and edge rather than every pod's.
// It reads Prometheus only; it never talks to the proxies or the Kubernetes API.
package viz
