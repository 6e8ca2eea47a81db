// Package demo is `mesh demo`: it prints the demo app (package pkg/demo) for kubectl apply,
// not injected, so that injecting it is the user's own step as with any app.
package demo
