// Command clusters runs local Kubernetes clusters from real parts with no Docker, or kind
// clusters with --provider kind: see `clusters --help` and packages
// multicluster-e2e/provider/local and multicluster-e2e/provider/kind.
package main

import (
	"os"

	"github.com/meshfed/meshfed/multicluster-e2e/clusterscmd"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
)

func main() {
	local.MaybeRunNode()
	if err := clusterscmd.Run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		os.Exit(1)
	}
}
