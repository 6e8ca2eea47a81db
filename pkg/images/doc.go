// Package images packs static binaries into OCI images without a container engine.
//
// An image made here is one uncompressed layer on an empty base: the binary, the host's CA
// certificates and a writable /tmp, with the binary as the entrypoint. It is written as a
// docker-archive tarball that `ctr images import` (and `docker load`) accept, so the local
// clusters can run the very images deploy/ names without a registry.
//
// It does not build binaries, push to registries or pull base images: nothing can be pulled
// on the machines this runs on, and a static Go binary needs no base.
package images
