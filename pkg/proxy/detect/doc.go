// Package detect tells which protocol a client speaks on a connection the proxy accepted, from
// its first bytes: HTTP/1 (a strict request line), HTTP/2 with prior knowledge (the client
// preface), TLS (a ClientHello record), or else opaque TCP. It reads no more than it needs, at
// most MaxPeek bytes, and hands back a connection that replays what it read, so whatever
// handles the protocol next sees the stream from its first byte.
//
// A client that says nothing within the timeout is opaque: in server-speaks-first protocols
// (MySQL, SMTP, SSH servers' banners) the client waits, and the proxy must then forward the
// connection as it is. So is anything that is not clearly one of the others: a wrong guess of
// HTTP breaks a connection, a wrong guess of opaque only loses HTTP features.
//
// It does not tell gRPC from other HTTP/2 (that is per request, by content-type), parse
// headers, or look inside TLS (SNI, ALPN): the layers after it do.
package detect
