// Package mirror is the link controller: for every Link it watches the remote cluster with the
// Link's read-only credentials and keeps, in this cluster, a mirror of each Service the remote
// exports (a Service <name>-<cluster> and its EndpointSlices, at the remote gateway or, flat,
// at the remote pods).
//
// Three controllers share one registry of remote clusters. The link controller, keyed by Link,
// starts and stops the remote watches with the Link and its credentials, probes the remote,
// and writes the Link's status. The mirror controller, keyed by one remote Service of one Link,
// computes the mirrors that Service should have and applies the difference; it writes nothing
// when nothing changed and touches nothing without the Link's owner label. A remote that cannot
// be reached leaves its mirrors in place with endpoints not ready.
//
// The clusterset controller, keyed by the namespace and name of a clusterset service (KEP-1645),
// keeps its ServiceImport here, the Service derived from it whose cluster IP is the
// ClusterSetIP, and this cluster's own member's EndpointSlices, and writes this cluster's
// ServiceExports' Valid and Conflict conditions (clusterset.go). The linked clusters' members
// are slices the mirror controller writes, one per Link at that cluster's gateway, with the
// code that writes a federated Service's (federated.go): a federated Service and a
// ServiceImport are one mechanism with two front doors.
//
// It does not route traffic (the proxies and the gateway do) and it does not answer DNS: the
// ClusterSetIP is an ordinary cluster IP of the derived Service, which kube-proxy and the
// destination service route. The controller only chooses it, from the ServiceCIDRs labelled
// for ClusterSetIPs (clusterset_ips.go); the apiserver allocates it; the clusterset.local names are for a DNS plugin (pkg/dnsplugin
// answers them; see its DNS.md).
package mirror
