// Package e2e is the multi-cluster end-to-end suite. Its tests run against real clusters
// brought up by a provider (the local one in CI) and check what a user would: nodes Ready,
// workloads serving, DNS and Services answering, traffic between clusters where it should
// flow and not where it should not. They carry the build tag e2e and, on local clusters, need
// root:
//
//	go test -tags e2e ./multicluster-e2e/e2e/
//
// With -provider=kind they run on kind clusters instead (Docker on Linux and kind needed, root
// not); see package provider/kind and the README's "Running the suite on kind":
//
//	go test -tags e2e ./multicluster-e2e/e2e/ -provider=kind
package e2e
