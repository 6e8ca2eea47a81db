// Package clusterscmd is the `clusters` command: flags and output over the local provider.
// It holds no cluster logic of its own.
package clusterscmd
