// Command mesh is meshfed's CLI: see `mesh --help` and package pkg/cmd/mesh.
package main

import (
	"os"

	meshcmd "github.com/meshfed/meshfed/pkg/cmd/mesh"
)

func main() {
	if err := meshcmd.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		os.Exit(1)
	}
}
