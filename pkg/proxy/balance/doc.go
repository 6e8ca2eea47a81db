// Package balance picks an endpoint for each request or connection by the power of two
// choices over a peak-sensitive moving average of latency (Finagle's and Linkerd's PeakEWMA):
// two endpoints are drawn at random and the one with the lower cost, its latency average
// times its requests in flight plus one, wins. A slow or overloaded endpoint gets less,
// without a global view and without locks on the hot path beyond one read lock.
//
// It does not discover endpoints (the destination client does) or retry.
package balance
