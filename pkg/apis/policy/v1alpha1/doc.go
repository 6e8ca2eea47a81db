// Package v1alpha1 is the policy.meshfed.io API: which clients may reach which ports of the
// meshed pods of a namespace. It follows Linkerd's policy API, simplified:
//
//   - a Server picks a port of some pods of its namespace; once one does, that port is denied
//     to every client but those an AuthorizationPolicy lets in;
//   - an AuthorizationPolicy names a Server (or every Server of the namespace) and the
//     authentications a client must all pass;
//   - a MeshTLSAuthentication passes clients whose mTLS identity it lists, in any cluster of
//     the federation: each cluster has its own trust domain, so a workload of another cluster
//     is named by its full SPIFFE identity;
//   - a NetworkAuthentication passes clients by source address.
//
// It holds types, their defaults and validation markers, nothing else: pkg/policy compiles the
// objects of a namespace and decides each connection; the proxy enforces the decision. The
// CRDs in deploy/crds are generated from these types (make generate). The apiserver refuses
// what the markers can check (shapes, CIDRs, SPIFFE patterns); what needs other objects (a
// reference to an authentication that does not exist, a namespace target naming another
// namespace) is pkg/policy's to judge.
//
// +kubebuilder:object:generate=true
// +groupName=policy.meshfed.io
package v1alpha1
