package discovery

import (
	"net/netip"
	"testing"

	"github.com/meshfed/meshfed/pkg/policy"
	"github.com/meshfed/meshfed/pkg/trust"
)

// FuzzCompilePolicy feeds the bytes of a GetPolicy update, as they come off the network, to
// what the proxy does with them: decode and compile. Whatever compiles must then decide
// connections without panicking, and give a reason for each decision.
func FuzzCompilePolicy(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"servers":[{"metadata":{"name":"web-http","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"port":"http"}}]}`,
		`{"servers":[{"metadata":{"name":"web-http","namespace":"shop"},"spec":{"podSelector":{},"port":8080}}],` +
			`"authorizationPolicies":[{"metadata":{"name":"p","namespace":"shop"},"spec":{"targetRef":{"kind":"Server","name":"web-http"},` +
			`"requiredAuthenticationRefs":[{"kind":"MeshTLSAuthentication","name":"m"},{"kind":"NetworkAuthentication","name":"n"}]}}],` +
			`"meshTLSAuthentications":[{"metadata":{"name":"m","namespace":"shop"},"spec":{"identities":["spiffe://west.meshfed.local/ns/shop/sa/*","*"]}}],` +
			`"networkAuthentications":[{"metadata":{"name":"n","namespace":"shop"},"spec":{"networks":[{"cidr":"198.18.0.0/15","except":["198.18.0.1/32"]},{"cidr":"::/0"}]}}]}`,
		`{"authorizationPolicies":[{"metadata":{"name":"ns","namespace":"shop"},"spec":{"targetRef":{"kind":"Namespace","name":"other"}}}]}`,
		`{"servers":[{"metadata":{"name":"a","namespace":"shop"},"spec":{"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},"port":"80"}}]}`,
		`{"servers":null,"networkAuthentications":[{"spec":{"networks":[{"cidr":"300.0.0.0/8"}]}}]}`,
		`[`,
		``,
	} {
		f.Add([]byte(s))
	}
	ids := []*trust.ID{nil, {TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "web"}, {TrustDomain: "east.meshfed.local", Namespace: "x", ServiceAccount: "y"}}
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("::ffff:198.18.3.4"), netip.MustParseAddr("fe80::1%eth0"), {}}
	pods := []policy.Pod{{}, {Labels: map[string]string{"app": "web"}, Ports: map[string]uint16{"http": 8080, "80": 80}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := compilePolicy("shop", "west.meshfed.local", data)
		if err != nil {
			if ix != nil {
				t.Fatal("an index returned with an error")
			}
			return
		}
		for _, pod := range pods {
			for _, port := range []uint16{0, 80, 8080} {
				for _, id := range ids {
					for _, addr := range addrs {
						for _, def := range []policy.DefaultPolicy{policy.AllUnauthenticated, policy.AllAuthenticated, policy.Deny} {
							if d := ix.Authorize(pod, port, policy.Client{ID: id, Addr: addr}, def); d.Reason == "" {
								t.Fatalf("decision %+v gives no reason", d)
							}
						}
					}
				}
			}
		}
	})
}
