// Package discovery is the proxy's client of the destination service: one gRPC stream per
// target (an authority or an address), shared by every connection to it, turned into the
// endpoint sets the proxy balances over. A stream that breaks is opened again with backoff,
// and until it is back the proxy keeps sending to the endpoints it last knew. FollowPolicy
// follows the policy of the proxy's namespace in the same way, into the inbound authorizer.
//
// It does not serve the Destination API (the destination controller does) or choose an
// endpoint (package balance does).
package discovery
