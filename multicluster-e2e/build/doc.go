// Package build makes every binary and image the local clusters run, with no container
// engine and no registry: the Kubernetes components and the add-ons from their Go modules
// (one tools module each under hack/tools, fetched through the Go module proxy), and the
// images of this repository's own binaries.
//
// Builds are cached under a folder of the caller's choosing, keyed by the tools module's
// go.mod and go.sum and the flags, so a second run costs a directory lookup. It does not
// decide which images a cluster needs, nor load them anywhere: the provider does that.
package build
