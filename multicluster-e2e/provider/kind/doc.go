// Package kind runs the multi-cluster suite's clusters on kind (Kubernetes in Docker), for
// people who have Docker. It implements provider.Provider by running the kind and docker
// CLIs, so it needs no Go dependency on kind and works with the kind a user already has.
//
// Each cluster is one kind cluster of one node, named with ClusterPrefix ("meshfed-west"), so
// that Down deletes the clusters it made and never a user's own. Every node is on the docker
// network "kind"; node and LoadBalancer addresses are reachable from every cluster and, on
// Linux, from this machine. The clusters get the local provider's pod and service ranges and
// the same add-ons from package addons (CoreDNS in place of kubeadm's, cert-manager, MetalLB
// in L2 mode with a pool of twenty addresses per cluster from the top /24 of the kind
// network), from the same images, built here and loaded with `kind load image-archive`.
// Without Options.Flat no node has a route to another cluster's pod range; with it each node
// routes the others' pod ranges to their nodes.
//
// It keeps a kubeconfig of its own with one context per cluster named as the cluster, and
// leaves ~/.kube/config alone. Its API server addresses are the nodes' addresses on the kind
// network, which other clusters reach too (a Link's credentials name them): that, and reaching
// LoadBalancer addresses from the test process, needs Docker on Linux. Docker Desktop on macOS
// or Windows does not route containers' addresses to the host.
//
// What it is not: it is not run in CI (the local provider is), and it was written without a
// Docker to run it on, so its behaviour against real kind is checked only by the suite run on
// a machine with Docker. It does not install kind, Docker or kubectl's dependencies, does not
// pick a kind release (see DefaultNodeImage for the node image it expects), and offers none of
// the local provider's inspection of a crashed run: a cluster it made is visible to `kind get
// clusters` and removed by Down like any other.
package kind
