// Package e2e is the multi-cluster end-to-end suite. Its tests run against real clusters
// brought up by a provider (the local one in CI) and check what a user would: nodes Ready,
// workloads serving, DNS and Services answering, traffic between clusters where it should
// flow and not where it should not. They carry the build tag e2e and need root:
//
//	go test -tags e2e ./multicluster-e2e/e2e/
package e2e
