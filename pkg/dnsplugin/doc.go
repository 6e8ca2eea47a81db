// Package dnsplugin answers DNS for the clusterset zone of the Multi-Cluster Services API
// (KEP-1645), clusterset.local, from the ServiceImports and EndpointSlices the link
// controller writes (pkg/mirror, clusterset.go):
//
//   - <svc>.<ns>.svc.clusterset.local: A/AAAA with the ServiceImport's ClusterSetIP; for a
//     Headless import, the address of every ready endpoint this cluster can reach: its own
//     pods, flat members' pods, and for a member behind its gateway the cluster IPs of its
//     pods' per-pod mirrors (MirrorModePodMirrors), never the gateway itself;
//   - _<port>._<proto>.<svc>.<ns>.svc.clusterset.local: SRV for each named port; for a
//     Headless import, one per endpoint with a hostname, named as below;
//   - <hostname>.<cluster>.<svc>.<ns>.svc.clusterset.local: A/AAAA of that one pod of that
//     cluster (a StatefulSet's pod, say).
//
// A name of no ServiceImport is NXDOMAIN; a name that exists with no record of the type asked
// is an empty answer (NODATA). It answers from a Store and imports nothing of CoreDNS, so that
// this module does not depend on it: the CoreDNS plugin that serves it (a ServeDNS over
// informers) is built in the CoreDNS tool module, which imports both (see
// pkg/mirror/DNS.md). cluster.local is not its business: CoreDNS's kubernetes plugin keeps
// answering it with the cluster's own Services.
package dnsplugin
