// Package multicluster holds the `mesh multicluster` commands, each an options struct with
// Complete, Validate and Run:
//
//   - install prints the Link CRD, the namespace mesh-multicluster, the link controller and
//     its RBAC, and the read-only remote reader, from the manifests embedded in deploy/;
//   - link, run against the cluster to be mirrored, prints the credentials Secret (a
//     kubeconfig of the remote reader's token) and the Link another cluster applies;
//   - unlink prints a Link, its Secret and its mirrors, for kubectl delete;
//   - check verifies the components and every Link, as data: each check a description, a
//     hint and a function returning its outcome.
//
// The commands only read clusters and print YAML: they never create, change or delete
// anything themselves, and they never print the caller's own credentials. Mirroring is the
// link controller's (pkg/mirror); this package only shares its names and labels.
package multicluster
