// Package destinationv1 is the destination service's gRPC API, generated from
// proto/destination/v1/destination.proto by `make generate`: the messages a proxy and the
// destination service exchange, and their client and server stubs. The .proto documents
// what a proxy does with every field.
//
// It holds generated code only (and this file): the service is in cmd/controller
// destination and its packages, the proxy's side in pkg/proxy.
package destinationv1
