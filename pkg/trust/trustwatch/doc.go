// Package trustwatch keeps a process's copy of one of the cluster's trust objects equal to
// the API's: the trust bundle ConfigMap (BundleStore, WatchBundle), read by the proxy
// injector, which writes the bundle into each pod, and by the identity service, which
// streams it to running proxies. Each watch reads one object by name (NamedFactory: a field
// selector, so that RBAC may grant that object alone).
//
// It is not pkg/trust, which the proxies import and which must not bring client-go with it;
// and it does not decide what a bundle is (pkg/trust parses it) or who gets it.
package trustwatch
