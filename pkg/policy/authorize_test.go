package policy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
)

// shop is the namespace most tests decide in:
//
//   - web-http, the port named http of app=web, open to cart of the cluster east (by name,
//     another trust domain) and to every ServiceAccount of shop in west;
//   - web-admin, port 9990 of app=web, open to any mesh identity from the LAN (both needed);
//   - db, port 5432 of app=db, open to west's shop/web, and through a policy whose
//     authentication is missing;
//   - every Server open to prometheus of monitoring, by a namespace-wide policy;
//   - lonely, port 7000 of app=web, which no policy targets.
func shop(t testing.TB) *Index {
	t.Helper()
	ix, err := Compile(ns, westTD, Objects{
		Servers: []policyv1alpha1.Server{
			srv("web-http", intstr.FromString("http"), map[string]string{"app": "web"}),
			srv("web-admin", intstr.FromInt32(9990), map[string]string{"app": "web"}),
			srv("db", intstr.FromInt32(5432), map[string]string{"app": "db"}),
			srv("lonely", intstr.FromInt32(7000), map[string]string{"app": "web"}),
		},
		AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("web-from-east-cart", toServer("web-http"), mtlsRef("east-cart")),
			authz("web-from-shop", toServer("web-http"), mtlsRef("west-shop")),
			authz("admin-from-lan", toServer("web-admin"), mtlsRef("any-mesh"), netRef("lan")),
			authz("db-from-web", toServer("db"), saRef("", "web")),
			authz("db-from-ghost", toServer("db"), mtlsRef("ghost")),
			authz("prometheus", toNamespace(), saRef("monitoring", "prometheus")),
			authz("nothing-yet", toServer("not-made-yet"), mtlsRef("any-mesh")),
		},
		MeshTLSAuthentications: []policyv1alpha1.MeshTLSAuthentication{
			meshTLS("east-cart", []string{"spiffe://east.meshfed.local/ns/shop/sa/cart"}),
			meshTLS("west-shop", []string{"spiffe://west.meshfed.local/ns/shop/sa/*"}),
			meshTLS("any-mesh", []string{"*"}),
		},
		NetworkAuthentications: []policyv1alpha1.NetworkAuthentication{
			netAuthn("lan", cidr("10.0.0.0/8", "10.9.0.0/16"), cidr("fd00::/8")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestAuthorize(t *testing.T) {
	ix := shop(t)
	web := Pod{Labels: map[string]string{"app": "web", "version": "v2"}, Ports: map[string]uint16{"http": 8080, "admin": 9990}}
	db := Pod{Labels: map[string]string{"app": "db"}}
	const (
		eastCart   = "spiffe://east.meshfed.local/ns/shop/sa/cart"
		eastWeb    = "spiffe://east.meshfed.local/ns/shop/sa/web"
		westWeb    = "spiffe://west.meshfed.local/ns/shop/sa/web"
		westCart   = "spiffe://west.meshfed.local/ns/shop/sa/cart"
		westProm   = "spiffe://west.meshfed.local/ns/monitoring/sa/prometheus"
		eastProm   = "spiffe://east.meshfed.local/ns/monitoring/sa/prometheus"
		westOther  = "spiffe://west.meshfed.local/ns/other/sa/web"
		lan, wan   = "10.1.2.3", "192.0.2.7"
		excepted   = "10.9.1.1"
		lanMapped  = "::ffff:10.1.2.3"
		lanV6, v6  = "fd00::7", "2001:db8::7"
		allowed    = true
		denied     = false
		byDefault  = ""
		noPolicy   = ""
		allUnauthn = AllUnauthenticated
	)
	tests := []struct {
		name   string
		pod    Pod
		port   uint16
		client Client
		def    DefaultPolicy
		// want is the decision; reason a part of its Reason.
		allowed        bool
		server, policy string
		reason         string
	}{
		{name: "another cluster's workload allowed by name", pod: web, port: 8080, client: mtls(t, eastCart, wan), def: Deny,
			allowed: allowed, server: "web-http", policy: "web-from-east-cart", reason: "passes MeshTLSAuthentication east-cart"},
		{name: "the same names in another cluster are another identity", pod: web, port: 8080, client: mtls(t, eastWeb, lan), def: allUnauthn,
			allowed: denied, server: "web-http", policy: noPolicy, reason: "none of the AuthorizationPolicies of Server web-http (web-from-east-cart, web-from-shop, prometheus)"},
		{name: "a namespace pattern", pod: web, port: 8080, client: mtls(t, westCart, wan), def: Deny,
			allowed: allowed, server: "web-http", policy: "web-from-shop"},
		{name: "a namespace pattern of another namespace", pod: web, port: 8080, client: mtls(t, westOther, lan), def: allUnauthn,
			allowed: denied, server: "web-http"},
		{name: "plaintext to a Server", pod: web, port: 8080, client: plaintext(t, lan), def: allUnauthn,
			allowed: denied, server: "web-http", reason: "none of the AuthorizationPolicies"},
		{name: "a named port elsewhere is not selected", pod: Pod{Labels: web.Labels, Ports: map[string]uint16{"http": 8081}}, port: 8080, client: plaintext(t, lan), def: allUnauthn,
			allowed: allowed, server: byDefault, policy: "default:all-unauthenticated"},
		{name: "a pod with no such named port", pod: Pod{Labels: web.Labels}, port: 8080, client: plaintext(t, lan), def: allUnauthn,
			allowed: allowed, server: byDefault, policy: "default:all-unauthenticated"},
		{name: "a pod no Server selects", pod: Pod{Labels: map[string]string{"app": "other"}, Ports: web.Ports}, port: 8080, client: plaintext(t, lan), def: Deny,
			allowed: denied, server: byDefault, policy: "default:deny", reason: "default policy is deny"},

		{name: "every requirement met", pod: web, port: 9990, client: mtls(t, eastWeb, lan), def: Deny,
			allowed: allowed, server: "web-admin", policy: "admin-from-lan", reason: "MeshTLSAuthentication any-mesh and NetworkAuthentication lan"},
		{name: "from IPv6 in the LAN", pod: web, port: 9990, client: mtls(t, eastWeb, lanV6), def: Deny,
			allowed: allowed, server: "web-admin", policy: "admin-from-lan"},
		{name: "from an IPv4 address mapped into IPv6", pod: web, port: 9990, client: mtls(t, westWeb, lanMapped), def: Deny,
			allowed: allowed, server: "web-admin", policy: "admin-from-lan"},
		{name: "from outside the LAN", pod: web, port: 9990, client: mtls(t, westWeb, wan), def: allUnauthn,
			allowed: denied, server: "web-admin", reason: "none of the AuthorizationPolicies of Server web-admin (admin-from-lan, prometheus)"},
		{name: "from outside the LAN over IPv6", pod: web, port: 9990, client: mtls(t, westWeb, v6), def: allUnauthn,
			allowed: denied, server: "web-admin"},
		{name: "from the LAN's exception", pod: web, port: 9990, client: mtls(t, westWeb, excepted), def: allUnauthn,
			allowed: denied, server: "web-admin"},
		{name: "plaintext from the LAN", pod: web, port: 9990, client: plaintext(t, lan), def: allUnauthn,
			allowed: denied, server: "web-admin"},

		{name: "a ServiceAccount of this cluster", pod: db, port: 5432, client: mtls(t, westWeb, wan), def: Deny,
			allowed: allowed, server: "db", policy: "db-from-web", reason: "passes ServiceAccount shop/web"},
		{name: "a ServiceAccount reference is this cluster's only", pod: db, port: 5432, client: mtls(t, eastWeb, wan), def: allUnauthn,
			allowed: denied, server: "db"},
		{name: "a namespace-wide policy", pod: db, port: 5432, client: mtls(t, westProm, wan), def: Deny,
			allowed: allowed, server: "db", policy: "prometheus", reason: "passes ServiceAccount monitoring/prometheus"},
		{name: "a namespace-wide policy on a named port", pod: web, port: 8080, client: mtls(t, westProm, wan), def: Deny,
			allowed: allowed, server: "web-http", policy: "prometheus"},
		{name: "a namespace-wide policy opens no port a Server does not select", pod: web, port: 9000, client: mtls(t, westProm, wan), def: Deny,
			allowed: denied, server: byDefault, policy: "default:deny"},
		{name: "a namespace-wide policy, from another cluster", pod: db, port: 5432, client: mtls(t, eastProm, wan), def: allUnauthn,
			allowed: denied, server: "db"},
		{name: "a Server only the namespace-wide policy targets", pod: web, port: 7000, client: mtls(t, westWeb, lan), def: allUnauthn,
			allowed: denied, server: "lonely", policy: "prometheus", reason: "AuthorizationPolicy prometheus requires ServiceAccount monitoring/prometheus, whose identity spiffe://west.meshfed.local/ns/monitoring/sa/prometheus the client does not have"},
		{name: "the same, plaintext", pod: web, port: 7000, client: plaintext(t, lan), def: allUnauthn,
			allowed: denied, server: "lonely", policy: "prometheus", reason: "the client is plaintext"},

		{name: "default all-unauthenticated, plaintext", pod: web, port: 9000, client: plaintext(t, wan), def: AllUnauthenticated,
			allowed: allowed, policy: "default:all-unauthenticated"},
		{name: "default all-authenticated, plaintext", pod: web, port: 9000, client: plaintext(t, lan), def: AllAuthenticated,
			allowed: denied, policy: "default:all-authenticated", reason: "denies plaintext clients"},
		{name: "default all-authenticated, another cluster", pod: web, port: 9000, client: mtls(t, eastCart, wan), def: AllAuthenticated,
			allowed: allowed, policy: "default:all-authenticated"},
		{name: "default deny", pod: db, port: 9000, client: mtls(t, westWeb, lan), def: Deny,
			allowed: denied, policy: "default:deny"},
		{name: "a default not parsed", pod: db, port: 9000, client: mtls(t, westWeb, lan), def: DefaultPolicy("allow"),
			allowed: denied, policy: "default:unknown", reason: "ParseDefaultPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Authorize(tt.pod, tt.port, tt.client, tt.def)
			if got.Allowed != tt.allowed || got.Server != tt.server || (tt.policy != "" && got.Policy != tt.policy) || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("got %+v\nwant allowed %v, server %q, policy %q, a reason saying %q", got, tt.allowed, tt.server, tt.policy, tt.reason)
			}
		})
	}
}

// A policy whose one authentication does not exist denies everyone, and says so.
func TestAuthorizeMissingAuthentication(t *testing.T) {
	ix, err := Compile(ns, westTD, Objects{
		Servers:               []policyv1alpha1.Server{srv("db", intstr.FromInt32(5432), nil)},
		AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{authz("db-from-ghost", toServer("db"), mtlsRef("ghost"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ix.Authorize(Pod{}, 5432, mtls(t, "spiffe://west.meshfed.local/ns/shop/sa/web", "10.0.0.1"), AllUnauthenticated)
	want := Decision{Server: "db", Policy: "db-from-ghost", Reason: "AuthorizationPolicy db-from-ghost requires MeshTLSAuthentication ghost, which does not exist in namespace shop: no client passes until it does"}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// Two Servers selecting one port: the older wins, then the first by name, whatever the
// order of the list.
func TestAuthorizeServerConflict(t *testing.T) {
	older, newer := created(), created().Add(1)
	tests := []struct {
		name    string
		servers []policyv1alpha1.Server
		want    string
	}{
		{name: "older first", want: "b-old", servers: []policyv1alpha1.Server{
			srv("b-old", intstr.FromInt32(80), nil, createdAt(older)),
			srv("a-new", intstr.FromInt32(80), map[string]string{"app": "web"}, createdAt(newer)),
		}},
		{name: "older last", want: "b-old", servers: []policyv1alpha1.Server{
			srv("a-new", intstr.FromInt32(80), map[string]string{"app": "web"}, createdAt(newer)),
			srv("b-old", intstr.FromInt32(80), nil, createdAt(older)),
		}},
		{name: "same age", want: "a", servers: []policyv1alpha1.Server{
			srv("b", intstr.FromString("http"), nil),
			srv("a", intstr.FromInt32(80), nil),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Compile(ns, westTD, Objects{Servers: tt.servers})
			if err != nil {
				t.Fatal(err)
			}
			got := ix.Authorize(Pod{Labels: map[string]string{"app": "web"}, Ports: map[string]uint16{"http": 80}}, 80, plaintext(t, "10.0.0.1"), AllUnauthenticated)
			if got.Server != tt.want || got.Allowed {
				t.Errorf("got %+v, want denied by Server %s", got, tt.want)
			}
			if !strings.Contains(got.Reason, "no AuthorizationPolicy targets Server "+tt.want) {
				t.Errorf("reason %q", got.Reason)
			}
		})
	}
}

// Label selectors select as Kubernetes does: expressions too, and {} selects every pod.
func TestAuthorizeSelectors(t *testing.T) {
	ix, err := Compile(ns, westTD, Objects{
		Servers: []policyv1alpha1.Server{
			srv("canary", intstr.FromInt32(80), nil, func(s *policyv1alpha1.Server) {
				s.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "track", Operator: "In", Values: []string{"canary", "beta"}}}
			}),
			srv("everyone", intstr.FromInt32(81), nil),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		labels map[string]string
		port   uint16
		want   string
	}{
		{labels: map[string]string{"track": "beta"}, port: 80, want: "canary"},
		{labels: map[string]string{"track": "stable"}, port: 80, want: ""},
		{labels: nil, port: 80, want: ""},
		{labels: nil, port: 81, want: "everyone"},
	}
	for _, tt := range tests {
		got := ix.Authorize(Pod{Labels: tt.labels}, tt.port, plaintext(t, "10.0.0.1"), AllUnauthenticated)
		if got.Server != tt.want {
			t.Errorf("labels %v port %d: Server %q, want %q", tt.labels, tt.port, got.Server, tt.want)
		}
	}
}

// Authorize allocates nothing, allowed or denied, by a Server or by default.
func TestAuthorizeDoesNotAllocate(t *testing.T) {
	ix := shop(t)
	web := Pod{Labels: map[string]string{"app": "web"}, Ports: map[string]uint16{"http": 8080}}
	for name, c := range map[string]struct {
		port   uint16
		client Client
	}{
		"allowed":   {8080, mtls(t, "spiffe://east.meshfed.local/ns/shop/sa/cart", "10.0.0.1")},
		"denied":    {8080, plaintext(t, "10.0.0.1")},
		"network":   {9990, mtls(t, "spiffe://east.meshfed.local/ns/shop/sa/cart", "::ffff:10.0.0.1")},
		"by policy": {7000, plaintext(t, "10.0.0.1")},
		"default":   {9000, plaintext(t, "10.0.0.1")},
	} {
		if n := testing.AllocsPerRun(100, func() { ix.Authorize(web, c.port, c.client, AllAuthenticated) }); n != 0 {
			t.Errorf("%s: %v allocations per Authorize, want 0", name, n)
		}
	}
}
