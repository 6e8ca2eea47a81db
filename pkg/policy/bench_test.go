package policy

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// busy is a namespace larger than most: 50 workloads, each with two Servers (one on a named
// port), a policy for each naming ten identities of another cluster, and a namespace-wide
// policy. The connection asked about is to the last workload, so every Server is looked at.
func busy(b *testing.B) (*Index, Pod) {
	b.Helper()
	var objs Objects
	for i := range 50 {
		app := fmt.Sprintf("app-%d", i)
		objs.Servers = append(objs.Servers,
			srv(app+"-http", intstr.FromString("http"), map[string]string{"app": app, "tier": "web"}),
			srv(app+"-admin", intstr.FromInt32(9990), map[string]string{"app": app}))
		var ids []string
		for j := range 10 {
			ids = append(ids, fmt.Sprintf("spiffe://east.meshfed.local/ns/ns-%d/sa/client-%d", i, j))
		}
		objs.MeshTLSAuthentications = append(objs.MeshTLSAuthentications, meshTLS(app+"-clients", ids))
		objs.AuthorizationPolicies = append(objs.AuthorizationPolicies,
			authz(app+"-http", toServer(app+"-http"), mtlsRef(app+"-clients")),
			authz(app+"-admin", toServer(app+"-admin"), mtlsRef("any-mesh"), netRef("lan")))
	}
	objs.MeshTLSAuthentications = append(objs.MeshTLSAuthentications, meshTLS("any-mesh", []string{"*"}))
	objs.NetworkAuthentications = append(objs.NetworkAuthentications, netAuthn("lan", cidr("10.0.0.0/8", "10.9.0.0/16"), cidr("fd00::/8")))
	objs.AuthorizationPolicies = append(objs.AuthorizationPolicies, authz("prometheus", toNamespace(), saRef("monitoring", "prometheus")))
	ix, err := Compile(ns, westTD, objs)
	if err != nil {
		b.Fatal(err)
	}
	pod := Pod{
		Labels: map[string]string{"app": "app-49", "tier": "web", "pod-template-hash": "5d4f8c7b9"},
		Ports:  map[string]uint16{"http": 8080, "admin": 9990},
	}
	return ix, pod
}

func BenchmarkAuthorize(b *testing.B) {
	ix, pod := busy(b)
	cases := []struct {
		name   string
		port   uint16
		client Client
	}{
		{"allowed from another cluster", 8080, mtls(b, "spiffe://east.meshfed.local/ns/ns-49/sa/client-9", "192.0.2.1")},
		{"denied, plaintext", 8080, plaintext(b, "192.0.2.1")},
		{"denied, an identity no one lists", 8080, mtls(b, "spiffe://east.meshfed.local/ns/ns-48/sa/client-9", "192.0.2.1")},
		{"allowed by network and mTLS", 9990, mtls(b, "spiffe://west.meshfed.local/ns/shop/sa/web", "::ffff:10.1.2.3")},
		{"no Server, default", 9000, mtls(b, "spiffe://west.meshfed.local/ns/shop/sa/web", "10.1.2.3")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Authorize(pod, c.port, c.client, AllAuthenticated)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		busy(b)
	}
}
