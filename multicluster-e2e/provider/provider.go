// Package provider is the contract between the multi-cluster suite and whatever runs its
// clusters: the local provider here (nodes made of Linux namespaces, no Docker), or kind for
// people who have Docker.
package provider

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options choose how clusters come up.
type Options struct {
	// Clusters are the names of the clusters, one node each, such as "west" and "east".
	Clusters []string
	// Flat routes every cluster's pod range from every other node, so pods reach pods across
	// clusters directly. Without it only node and LoadBalancer addresses are reachable.
	Flat bool
}

// Provider runs a set of clusters.
type Provider interface {
	// Up brings every cluster up and returns once each node is Ready and the add-ons
	// (DNS, cert-manager, LoadBalancer addresses) serve. A failure on the way removes all it
	// made. It refuses to start over clusters that are already up.
	Up(ctx context.Context, opts Options) error
	// Down removes everything the provider made, running or left over from a crash. It is
	// not an error when nothing is up.
	Down(ctx context.Context) error
	// Kubeconfig returns the path of a kubeconfig with one context per cluster, named as the
	// cluster.
	Kubeconfig() string
	// Load imports an image tarball into every node of the named clusters (all when none).
	Load(ctx context.Context, tarball string, clusters ...string) error
}

// RESTConfig returns the client configuration of one cluster of a provider's kubeconfig.
func RESTConfig(kubeconfig, cluster string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: cluster}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s in %s: %w", cluster, kubeconfig, err)
	}
	return cfg, nil
}
