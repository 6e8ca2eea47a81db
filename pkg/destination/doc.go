// Package destination is the destination service: it answers a proxy's Get (the Destination
// API of pkg/apis/destination/v1) with the endpoints of the Service, Service port or pod the
// proxy names, and keeps the answer current for as long as the proxy listens.
//
// What it serves comes from three shared informers (Services, EndpointSlices and Pods, in every
// namespace), started once for the whole process. Every subscriber of one Service shares one
// state: a change is computed once, as a delta from the previous state, and fanned out to
// every stream, each of which sends it as Add and Remove updates. A subscriber that falls
// behind is sent the difference between what it has and what is current, never a backlog.
//
// A target is resolved as Kubernetes DNS and kube-proxy would: an authority
// <svc>.<ns>.svc.<cluster-domain>:<port> (or <svc>.<ns>.svc:<port>, <svc>.<ns>:<port>)
// and a ClusterIP:port name a Service port, whose endpoints are those of its EndpointSlices'
// port of the same name; a pod IP:port names that pod. Anything else is not in the mesh:
// NoEndpoints{exists: false}, and the proxy goes direct. Only ready endpoints
// (conditions.ready true or unset) are sent: a terminating endpoint goes at once, as
// kube-proxy drops it when the Service has any other.
//
// An endpoint whose pod runs the mesh's proxy (a container or init container named
// ProxyContainerName, or the InjectAnnotation) has the pod's SPIFFE identity as tls_identity;
// any other gets none, and proxies reach it in plaintext. The endpoints of a gateway-mode
// mirror (a Service of another cluster, mirrored by pkg/mirror, labelled
// mirror.meshfed.io/mode=gateway or made before that label) are the remote gateway's
// addresses, each with a Gateway saying what to ask the gateway for. They carry no
// tls_identity: the gateway picks the remote pod and names its identity, which the proxy
// accepts only within the gateway's own trust domain (or from Gateway.remote_identities when
// the mirror lists them). A remote-discovery (flat) mirror's endpoints are the remote pods,
// sent as plaintext endpoints, as this cluster knows nothing of their proxies yet. The
// headless parent of per-pod gateway mirrors is not in the mesh: its DNS answers are the
// per-pod mirrors' cluster IPs, each resolved as a Service of its own.
//
// Its listener (TLSConfig) serves the service's own workload leaf, which a certs.Manager gets
// from the identity service and renews as a proxy's does, and requires of every caller a leaf
// of this cluster's trust domain chaining to the trust bundle, which FollowBundleFile reads
// from the mounted ConfigMap. It never holds the issuer's key.
//
// It does not choose endpoints (the proxy balances), enforce policy, mirror Services (pkg/mirror
// does), or answer clusterset names (<svc>.<ns>.svc.clusterset.local), per-pod names of a
// headless Service (<pod>.<svc>.<ns>.svc...) or ExternalName Services: those are not in the
// mesh, and the proxy goes direct.
package destination
