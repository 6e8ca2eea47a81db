//go:build tools

// Package tools pins fortio, the load generator and the apps of `go run ./bench/proxy`. It
// stays at v1.68.2: later releases import grol.io/grol, which the Go module proxy refuses.
// bench/proxy names the version too (build.Tool's Version): change both together.
package tools

import _ "fortio.org/fortio"
