package policy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Fixtures: the namespace shop of the cluster west, whose trust domain is westTD, and the
// cluster east beside it. Builders take modifiers, so each test states only what it varies.
const (
	ns     = "shop"
	westTD = "west.meshfed.local"
	eastTD = "east.meshfed.local"
)

// created is the creation time of fixtures that do not set theirs.
func created() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(created())}
}

func srv(name string, port intstr.IntOrString, matchLabels map[string]string, mods ...func(*policyv1alpha1.Server)) policyv1alpha1.Server {
	s := policyv1alpha1.Server{ObjectMeta: meta(name), Spec: policyv1alpha1.ServerSpec{
		PodSelector: metav1.LabelSelector{MatchLabels: matchLabels},
		Port:        port,
	}}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func createdAt(t time.Time) func(*policyv1alpha1.Server) {
	return func(s *policyv1alpha1.Server) { s.CreationTimestamp = metav1.NewTime(t) }
}

func authz(name string, target policyv1alpha1.TargetRef, refs ...policyv1alpha1.AuthenticationRef) policyv1alpha1.AuthorizationPolicy {
	return policyv1alpha1.AuthorizationPolicy{ObjectMeta: meta(name), Spec: policyv1alpha1.AuthorizationPolicySpec{
		TargetRef:                  target,
		RequiredAuthenticationRefs: refs,
	}}
}

func toServer(name string) policyv1alpha1.TargetRef {
	return policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetServer, Name: name}
}

func toNamespace() policyv1alpha1.TargetRef {
	return policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetNamespace}
}

func mtlsRef(name string) policyv1alpha1.AuthenticationRef {
	return policyv1alpha1.AuthenticationRef{Kind: policyv1alpha1.KindMeshTLSAuthentication, Name: name}
}

func netRef(name string) policyv1alpha1.AuthenticationRef {
	return policyv1alpha1.AuthenticationRef{Kind: policyv1alpha1.KindNetworkAuthentication, Name: name}
}

func saRef(namespace, name string) policyv1alpha1.AuthenticationRef {
	return policyv1alpha1.AuthenticationRef{Kind: policyv1alpha1.KindServiceAccount, Name: name, Namespace: namespace}
}

func meshTLS(name string, identities []string, refs ...policyv1alpha1.ServiceAccountRef) policyv1alpha1.MeshTLSAuthentication {
	a := policyv1alpha1.MeshTLSAuthentication{ObjectMeta: meta(name), Spec: policyv1alpha1.MeshTLSAuthenticationSpec{IdentityRefs: refs}}
	for _, id := range identities {
		a.Spec.Identities = append(a.Spec.Identities, policyv1alpha1.IdentityPattern(id))
	}
	return a
}

func netAuthn(name string, nets ...policyv1alpha1.Network) policyv1alpha1.NetworkAuthentication {
	return policyv1alpha1.NetworkAuthentication{ObjectMeta: meta(name), Spec: policyv1alpha1.NetworkAuthenticationSpec{Networks: nets}}
}

func cidr(c string, except ...string) policyv1alpha1.Network {
	n := policyv1alpha1.Network{CIDR: policyv1alpha1.CIDR(c)}
	for _, e := range except {
		n.Except = append(n.Except, policyv1alpha1.CIDR(e))
	}
	return n
}

// mtls is a client with the identity id, from addr.
func mtls(t testing.TB, id, addr string) Client {
	t.Helper()
	parsed, err := trust.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return Client{ID: &parsed, Addr: mustAddr(t, addr)}
}

// plaintext is a client with no identity, from addr.
func plaintext(t testing.TB, addr string) Client {
	t.Helper()
	return Client{Addr: mustAddr(t, addr)}
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
