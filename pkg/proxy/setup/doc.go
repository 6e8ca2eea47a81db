// Package setup is what a meshfed process in a pod does before it serves: read the trust
// bundle, make its logger and metrics registry, get and renew its leaf from the identity
// service, and dial the destination service. The sidecar proxy (cmd/proxy) and the east-west
// gateway (cmd/gateway) share it.
//
// It does not parse flags (the commands do) or serve anything: serving is the proxy
// engine's (package proxy) and the gateway's (package gateway).
package setup
