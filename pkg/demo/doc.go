// Package demo is the demo app `mesh demo install` deploys, in the spirit of Linkerd's
// emojivoto: a web front end (HTTP) that asks the emoji service (gRPC) what can be voted for
// and the voting service (gRPC) to count votes, and a load generator that votes all the time.
// It knows nothing of the mesh: the mesh is what makes it encrypted, authenticated and seen.
//
// It is a demo, not a test fixture: its state is in memory and its HTML is one page.
package demo
