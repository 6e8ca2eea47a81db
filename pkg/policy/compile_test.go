package policy

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/trust"
)

func TestParseDefaultPolicy(t *testing.T) {
	tests := []struct {
		in   string
		want DefaultPolicy
		err  []string
	}{
		{in: "all-unauthenticated", want: AllUnauthenticated},
		{in: "all-authenticated", want: AllAuthenticated},
		{in: "deny", want: Deny},
		{in: "", err: []string{`default policy ""`, "all-unauthenticated, all-authenticated, deny"}},
		{in: "Deny", err: []string{`"Deny" is not one of`}},
		{in: "cluster-authenticated", err: []string{"is not one of"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDefaultPolicy(tt.in)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseIdentityPattern(t *testing.T) {
	hint := "* may stand for the service account"
	tests := []struct {
		in   string
		want identityPattern
		err  []string
	}{
		{in: "*", want: identityPattern{kind: anyIdentity}},
		{in: "spiffe://east.meshfed.local/ns/*/sa/*", want: identityPattern{kind: inTrustDomain, id: trust.ID{TrustDomain: eastTD}}},
		{in: "spiffe://east.meshfed.local/ns/shop/sa/*", want: identityPattern{kind: inNamespace, id: trust.ID{TrustDomain: eastTD, Namespace: "shop"}}},
		{in: "spiffe://east.meshfed.local/ns/shop/sa/cart", want: identityPattern{kind: exactIdentity, id: trust.ID{TrustDomain: eastTD, Namespace: "shop", ServiceAccount: "cart"}}},

		{in: "", err: []string{"is not a SPIFFE identity"}},
		{in: "**", err: []string{"is not a SPIFFE identity"}},
		{in: "cart.shop.serviceaccount.identity.linkerd.cluster.local", err: []string{"is not a SPIFFE identity", "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"}},
		{in: "spiffe://*/ns/*/sa/*", err: []string{`the trust domain "*" is not a DNS name`}},
		{in: "spiffe://*/ns/shop/sa/*", err: []string{`the trust domain "*" is not a DNS name`, hint}},
		{in: "spiffe://*/ns/shop/sa/cart", err: []string{`the trust domain "*" is not a DNS name`, hint}},
		{in: "spiffe://east.meshfed.local/ns/*/sa/cart", err: []string{`the namespace "*"`, hint}},
		{in: "spiffe://east.meshfed.local/ns/shop/sa/cart-*", err: []string{`the service account "cart-*"`, hint}},
		{in: "spiffe://east.meshfed.local/ns/sh*/sa/*", err: []string{`the namespace "sh*"`, hint}},
		{in: "spiffe://East.meshfed.local/ns/shop/sa/*", err: []string{"is not lower case"}},
		{in: "spiffe://east.meshfed.local:443/ns/shop/sa/*", err: []string{"is not a DNS name"}},
		{in: "spiffe://east.meshfed.local/sa/*", err: []string{"is not spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"}},
		{in: "spiffe://east.meshfed.local/x/ns/shop/sa/*", err: []string{"is not a DNS name"}},
		{in: "spiffe://east.meshfed.local/ns/a/b/sa/*", err: []string{`the namespace "a/b"`}},
		{in: "spiffe://east.meshfed.local/ns/shop/sa/cart/", err: []string{"ends with '/'"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseIdentityPattern(tt.in)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Compile refuses what it cannot decide by, naming the object and the field; every problem
// is in one error.
func TestCompileErrors(t *testing.T) {
	web := srv("web", intstr.FromInt32(80), nil)
	tests := []struct {
		name        string
		namespace   string
		trustDomain string
		objs        Objects
		err         []string
	}{
		{name: "nothing", objs: Objects{}},
		{name: "a bad namespace", namespace: "Shop", err: []string{`namespace "Shop"`}},
		{name: "a bad trust domain", trustDomain: "west_1", err: []string{"trust domain: ", `"west_1" is not a DNS name`}},
		{name: "a malformed identity pattern", objs: Objects{MeshTLSAuthentications: []policyv1alpha1.MeshTLSAuthentication{
			meshTLS("east", []string{"spiffe://east.meshfed.local/ns/shop/sa/cart", "spiffe://*/ns/shop/sa/cart"}),
		}}, err: []string{"MeshTLSAuthentication shop/east: spec.identities[1]:", `"spiffe://*/ns/shop/sa/cart"`, "never for a trust domain"}},
		{name: "every problem at once", objs: Objects{MeshTLSAuthentications: []policyv1alpha1.MeshTLSAuthentication{
			meshTLS("a", []string{"spiffe://east.meshfed.local/ns/*/sa/cart"}),
			meshTLS("b", nil, policyv1alpha1.ServiceAccountRef{Name: "Cart"}),
		}}, err: []string{"MeshTLSAuthentication shop/a: spec.identities[0]:", "MeshTLSAuthentication shop/b: spec.identityRefs[0]: the service account \"Cart\""}},
		{name: "a MeshTLSAuthentication of no one", objs: Objects{MeshTLSAuthentications: []policyv1alpha1.MeshTLSAuthentication{meshTLS("none", nil)}},
			err: []string{"MeshTLSAuthentication shop/none: spec: lists no identities and no identityRefs"}},
		{name: "another namespace's object", objs: Objects{Servers: []policyv1alpha1.Server{
			srv("web", intstr.FromInt32(80), nil, func(s *policyv1alpha1.Server) { s.Namespace = "other" }),
		}}, err: []string{"Server other/web: metadata.namespace: is not shop"}},
		{name: "a Server listed twice", objs: Objects{Servers: []policyv1alpha1.Server{web, web}},
			err: []string{"Server shop/web is listed twice"}},
		{name: "port 0", objs: Objects{Servers: []policyv1alpha1.Server{srv("web", intstr.FromInt32(0), nil)}},
			err: []string{"Server shop/web: spec.port: 0 is not a port"}},
		{name: "a bad port name", objs: Objects{Servers: []policyv1alpha1.Server{srv("web", intstr.FromString("HTTP"), nil)}},
			err: []string{`Server shop/web: spec.port: "HTTP" is not a container port name`}},
		{name: "a bad selector", objs: Objects{Servers: []policyv1alpha1.Server{srv("web", intstr.FromInt32(80), map[string]string{"app": "a b"})}},
			err: []string{"Server shop/web: spec.podSelector:"}},
		{name: "a bad CIDR", objs: Objects{NetworkAuthentications: []policyv1alpha1.NetworkAuthentication{netAuthn("lan", cidr("10.0.0.0/8"), cidr("10.1.2.3"))}},
			err: []string{"NetworkAuthentication shop/lan: spec.networks[1].cidr:", "write a single address as 10.1.2.3/32"}},
		{name: "an exception outside", objs: Objects{NetworkAuthentications: []policyv1alpha1.NetworkAuthentication{netAuthn("lan", cidr("10.0.0.0/16", "10.0.0.0/8"))}},
			err: []string{"NetworkAuthentication shop/lan: spec.networks[0].except[0]: 10.0.0.0/8 is not within 10.0.0.0/16"}},
		{name: "an IPv4 network as IPv6", objs: Objects{NetworkAuthentications: []policyv1alpha1.NetworkAuthentication{netAuthn("lan", cidr("::ffff:10.0.0.0/104"))}},
			err: []string{"spec.networks[0].cidr:", "write it as IPv4"}},
		{name: "no networks", objs: Objects{NetworkAuthentications: []policyv1alpha1.NetworkAuthentication{netAuthn("lan")}},
			err: []string{"NetworkAuthentication shop/lan: spec.networks: is empty"}},
		{name: "a policy requiring nothing", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{authz("p", toServer("web"))}},
			err: []string{"AuthorizationPolicy shop/p: spec.requiredAuthenticationRefs: is empty"}},
		{name: "a namespace target naming another", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("p", policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetNamespace, Name: "other"}, saRef("", "web")),
		}}, err: []string{"AuthorizationPolicy shop/p: spec.targetRef.name: names namespace other", "leave the name out"}},
		{name: "a namespace target naming its own", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("p", policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetNamespace, Name: ns}, saRef("", "web")),
		}}},
		{name: "a Server target with no name", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{authz("p", toServer(""), saRef("", "web"))}},
			err: []string{"AuthorizationPolicy shop/p: spec.targetRef.name: is empty"}},
		{name: "another kind of target", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("p", policyv1alpha1.TargetRef{Kind: "HTTPRoute", Name: "r"}, saRef("", "web")),
		}}, err: []string{`AuthorizationPolicy shop/p: spec.targetRef.kind: "HTTPRoute" is not Server or Namespace`}},
		{name: "another kind of authentication", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("p", toServer("web"), saRef("", "web"), policyv1alpha1.AuthenticationRef{Kind: "Group", Name: "admins"}),
		}}, err: []string{`AuthorizationPolicy shop/p: spec.requiredAuthenticationRefs[1]: kind "Group" is not`}},
		{name: "a namespaced MeshTLSAuthentication", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("p", toServer("web"), policyv1alpha1.AuthenticationRef{Kind: policyv1alpha1.KindMeshTLSAuthentication, Name: "m", Namespace: "other"}),
		}}, err: []string{"AuthorizationPolicy shop/p: spec.requiredAuthenticationRefs[0].namespace: is only for kind ServiceAccount"}},
		{name: "a bad ServiceAccount", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{authz("p", toServer("web"), saRef("Other", "web"))}},
			err: []string{`AuthorizationPolicy shop/p: spec.requiredAuthenticationRefs[0]: the namespace "Other"`}},
		{name: "references to what does not exist yet", objs: Objects{AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{
			authz("p", toServer("web"), mtlsRef("m"), netRef("n")),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			namespace, td := ns, westTD
			if tt.namespace != "" {
				namespace = tt.namespace
			}
			if tt.trustDomain != "" {
				td = tt.trustDomain
			}
			ix, err := Compile(namespace, td, tt.objs)
			checkErr(t, err, tt.err)
			if (err == nil) != (ix != nil) {
				t.Errorf("Compile returned index %v and error %v: want exactly one", ix, err)
			}
		})
	}
}
