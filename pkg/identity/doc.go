// Package identity is the identity service: it turns a workload's proof of who it is (a
// projected ServiceAccount token with the mesh's audience) into a short-lived leaf certificate
// naming that identity, signed by the cluster's issuer.
//
// A request is checked before anything is signed: the CSR must parse and ask for exactly the
// identity the request names, the API server must accept the token (TokenReview) for the
// mesh's audience, and the token must prove that same identity. Each refusal has its own gRPC
// code and a message that names what is wrong. The issuer is read from its Secret, written by
// cert-manager or by `mesh trust cluster`, and reloaded when it changes, with no restart and no
// request failed.
//
// It does not make or rotate the issuer (cert-manager, or pkg/trust and `mesh trust`, do), and
// it does not hand certificates to proxies' TLS stacks: proxies ask for their own.
package identity
