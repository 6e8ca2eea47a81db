//go:build tools

// Package tools pins helm, whose `helm template` and `helm lint` the chart's test in deploy/
// runs: the chart is checked with the real renderer, not an imitation. build.Helm names the
// version too (build.Tool's Version): change both together.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
