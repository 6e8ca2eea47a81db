// Command clusters runs local Kubernetes clusters from real parts with no Docker: see
// `clusters --help` and package multicluster-e2e/provider/local.
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
