// Package mirror is the link controller: for every Link it watches the remote cluster with the
// Link's read-only credentials and keeps, in this cluster, a mirror of each Service the remote
// exports (a Service <name>-<cluster> and its EndpointSlices, at the remote gateway or, flat,
// at the remote pods).
//
// Two controllers share one registry of remote clusters. The link controller, keyed by Link,
// starts and stops the remote watches with the Link and its credentials, probes the remote,
// and writes the Link's status. The mirror controller, keyed by one remote Service of one Link,
// computes the mirrors that Service should have and applies the difference; it writes nothing
// when nothing changed and touches nothing without the Link's owner label. A remote that cannot
// be reached leaves its mirrors in place with endpoints not ready.
//
// It does not route traffic (the proxies and the gateway do) and it does not federate local
// and remote members into one Service; that comes with the ServiceImport work.
package mirror
