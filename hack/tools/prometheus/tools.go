//go:build tools

// Package tools pins Prometheus, which the local clusters run for mesh viz (its image is
// tagged as the official prom/prometheus:v2.53.4 that mesh viz install names). Module
// v0.53.4 is Prometheus 2.53.4. Debian's prometheus package, which pkg/viz's tests run on
// loopback, is built without kubernetes_sd, which the in-cluster config needs: hence this
// build. Its web UI's assets are not in the module; the API, which the viz API reads, is.
// go.mod copies Prometheus' own replace directives (klog to go-kit's), which a dependency's
// go.mod cannot impose. Built with CGO_ENABLED=0 it is one static binary (about 135 MB
// unstripped), which loads mesh viz install's config and rules. Stamp its version with
// -ldflags -X github.com/prometheus/common/version.Version=2.53.4, as package build's
// Prometheus() does; the nodes' image of it is in multicluster-e2e/provider/nodeimages.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
