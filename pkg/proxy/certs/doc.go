// Package certs keeps a proxy's own certificate: it asks the identity service for a leaf with
// the pod's token, renews it at 70% of its life, and hands crypto/tls the current one for
// every new connection, so a renewal drops nothing (open connections keep the leaf they
// started with). It also makes the TLS configs between proxies: TLS 1.3 only, peers checked
// against the trust bundle by SPIFFE identity, never by host name.
//
// It does not choose which identity a peer must have: the caller passes the one the
// destination service announced.
package certs
