package policy

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Objects are the policy objects of one namespace, as listed from the apiserver or a cache
// (the Items of each list). Its JSON is what the destination service's GetPolicy sends.
type Objects struct {
	Servers                []policyv1alpha1.Server                `json:"servers,omitempty"`
	AuthorizationPolicies  []policyv1alpha1.AuthorizationPolicy   `json:"authorizationPolicies,omitempty"`
	MeshTLSAuthentications []policyv1alpha1.MeshTLSAuthentication `json:"meshTLSAuthentications,omitempty"`
	NetworkAuthentications []policyv1alpha1.NetworkAuthentication `json:"networkAuthentications,omitempty"`
}

// Index is one namespace's policy, compiled: Authorize reads it, nothing changes it, so it
// is safe for concurrent use. A change to any object means a new Compile.
type Index struct {
	namespace string
	// byPort and byName hold the Servers by port number and by container port name, so that
	// Authorize matches selectors only of Servers of the port asked about. Each list is in
	// rank order.
	byPort map[uint16][]*server
	byName []namedServers
}

// Namespace is the namespace whose objects the Index was compiled from.
func (ix *Index) Namespace() string { return ix.namespace }

// namedServers are the Servers that name one container port.
type namedServers struct {
	portName string
	servers  []*server
}

type server struct {
	name string
	// rank orders the Servers of a port: of two that select it, the lower rank wins.
	rank     int
	selector labels.Selector
	// port is the Server's port number, or 0 when it names a container port: portName.
	port     uint16
	portName string
	// policies target the Server, then the namespace, each by name: any one allows.
	policies []*authorizationPolicy
	// denied is the reason given when no policy allows a client and there is not exactly one
	// policy, whose own reason says more.
	denied string
}

type authorizationPolicy struct {
	name     string
	required []requirement
	allowed  string // the reason given when it allows
}

type authenticationKind uint8

const (
	byMeshTLS authenticationKind = iota
	byNetwork
	byServiceAccount
	// missing: the policy names an authentication that does not exist, and no client passes.
	missing
)

// requirement is one required authentication, with what it needs resolved.
type requirement struct {
	kind       authenticationKind
	identities []identityPattern // byMeshTLS
	networks   []network         // byNetwork
	identity   trust.ID          // byServiceAccount
	// unmet and plaintext are the reasons given when the client does not pass: with an
	// identity, and without one.
	unmet, plaintext string
}

type network struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

// Compile checks and compiles the policy objects of namespace, in a cluster whose trust
// domain is trustDomain: the trust domain of ServiceAccount references.
//
// It refuses what the CRDs' validation refuses, should an object have escaped it, and what
// only makes sense across objects, such as a Namespace target naming another namespace. Every
// problem found is in the error, each naming the object and field, so that all can be fixed
// at once; the caller keeps the last good Index meanwhile. A reference to an authentication
// that does not exist is not an error (objects arrive in any order): the policy allows no
// one until it does.
func Compile(namespace, trustDomain string, objs Objects) (*Index, error) {
	var errs []error
	if err := validation.IsDNS1123Label(namespace); len(err) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", namespace, strings.Join(err, "; ")))
	}
	if err := trust.ValidateTrustDomain(trustDomain); err != nil {
		errs = append(errs, fmt.Errorf("trust domain: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := compiler{namespace: namespace, trustDomain: trustDomain}

	meshTLS := map[string][]identityPattern{}
	for i := range objs.MeshTLSAuthentications {
		a := &objs.MeshTLSAuthentications[i]
		if ids, ok := c.meshTLS(a); ok && unique(&c, "MeshTLSAuthentication", meshTLS, a.Name) {
			meshTLS[a.Name] = ids
		}
	}
	networks := map[string][]network{}
	for i := range objs.NetworkAuthentications {
		a := &objs.NetworkAuthentications[i]
		if nets, ok := c.networks(a); ok && unique(&c, "NetworkAuthentication", networks, a.Name) {
			networks[a.Name] = nets
		}
	}

	servers := map[string]*server{}
	ordered := make([]*policyv1alpha1.Server, 0, len(objs.Servers))
	for i := range objs.Servers {
		s := &objs.Servers[i]
		if srv, ok := c.server(s); ok && unique(&c, "Server", servers, s.Name) {
			servers[s.Name] = srv
			ordered = append(ordered, s)
		}
	}

	// Policies by name, so that a Server lists them in an order that does not depend on the
	// order of the list.
	policies := slices.Clone(objs.AuthorizationPolicies)
	slices.SortFunc(policies, func(a, b policyv1alpha1.AuthorizationPolicy) int { return cmp.Compare(a.Name, b.Name) })
	var forNamespace []*authorizationPolicy
	seen := map[string]bool{}
	for i := range policies {
		p := &policies[i]
		compiled, ok := c.policy(p, meshTLS, networks)
		if !ok || !unique(&c, "AuthorizationPolicy", seen, p.Name) {
			continue
		}
		seen[p.Name] = true
		switch p.Spec.TargetRef.Kind {
		case policyv1alpha1.TargetServer:
			// A Server that does not exist (yet) gets nothing: the policy waits for it.
			if srv := servers[p.Spec.TargetRef.Name]; srv != nil {
				srv.policies = append(srv.policies, compiled)
			}
		case policyv1alpha1.TargetNamespace:
			forNamespace = append(forNamespace, compiled)
		}
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}

	// The oldest Server wins a port that two select, as it held it first; the name breaks
	// ties, so that every proxy of the namespace decides alike.
	slices.SortFunc(ordered, func(a, b *policyv1alpha1.Server) int {
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return cmp.Compare(a.Name, b.Name)
		}
		if a.CreationTimestamp.Before(&b.CreationTimestamp) {
			return -1
		}
		return 1
	})
	ix := &Index{namespace: namespace, byPort: map[uint16][]*server{}}
	for rank, s := range ordered {
		srv := servers[s.Name]
		srv.rank = rank
		srv.policies = append(srv.policies, forNamespace...)
		srv.denied = deniedReason(srv)
		if srv.port != 0 {
			ix.byPort[srv.port] = append(ix.byPort[srv.port], srv)
			continue
		}
		i := slices.IndexFunc(ix.byName, func(n namedServers) bool { return n.portName == srv.portName })
		if i < 0 {
			i = len(ix.byName)
			ix.byName = append(ix.byName, namedServers{portName: srv.portName})
		}
		ix.byName[i].servers = append(ix.byName[i].servers, srv)
	}
	return ix, nil
}

// compiler gathers the errors of one Compile.
type compiler struct {
	namespace, trustDomain string
	errs                   []error
}

func (c *compiler) fail(kind string, m *metav1.ObjectMeta, field, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s %s/%s: %s: %s", kind, m.Namespace, m.Name, field, fmt.Sprintf(format, args...)))
}

// inNamespace checks that an object is of the namespace compiled.
func (c *compiler) inNamespace(kind string, m *metav1.ObjectMeta) bool {
	if m.Namespace != c.namespace {
		c.fail(kind, m, "metadata.namespace", "is not %s: compile the objects of one namespace at a time", c.namespace)
		return false
	}
	if m.Name == "" {
		c.fail(kind, m, "metadata.name", "is empty")
		return false
	}
	return true
}

// unique checks that no object of the kind had the name before: the apiserver never lists
// two, but a caller merging lists might.
func unique[V any](c *compiler, kind string, seen map[string]V, name string) bool {
	if _, dup := seen[name]; dup {
		c.errs = append(c.errs, fmt.Errorf("%s %s/%s is listed twice: pass each object once", kind, c.namespace, name))
		return false
	}
	return true
}

func (c *compiler) server(s *policyv1alpha1.Server) (*server, bool) {
	const kind = "Server"
	if !c.inNamespace(kind, &s.ObjectMeta) {
		return nil, false
	}
	ok := true
	sel, err := metav1.LabelSelectorAsSelector(&s.Spec.PodSelector)
	if err != nil {
		c.fail(kind, &s.ObjectMeta, "spec.podSelector", "%v", err)
		ok = false
	}
	srv := &server{name: s.Name, selector: sel}
	switch p := s.Spec.Port; p.Type {
	case intstr.Int:
		if p.IntVal < 1 || p.IntVal > 65535 {
			c.fail(kind, &s.ObjectMeta, "spec.port", "%d is not a port: give a number from 1 to 65535 or a container port name", p.IntVal)
			ok = false
		}
		srv.port = uint16(p.IntVal)
	case intstr.String:
		if errs := validation.IsValidPortName(p.StrVal); len(errs) > 0 {
			c.fail(kind, &s.ObjectMeta, "spec.port", "%q is not a container port name (%s): give a name or a number from 1 to 65535", p.StrVal, strings.Join(errs, "; "))
			ok = false
		}
		srv.portName = p.StrVal
	}
	return srv, ok
}

func (c *compiler) meshTLS(a *policyv1alpha1.MeshTLSAuthentication) ([]identityPattern, bool) {
	const kind = "MeshTLSAuthentication"
	if !c.inNamespace(kind, &a.ObjectMeta) {
		return nil, false
	}
	if len(a.Spec.Identities) == 0 && len(a.Spec.IdentityRefs) == 0 {
		c.fail(kind, &a.ObjectMeta, "spec", "lists no identities and no identityRefs: give at least one, or delete it")
		return nil, false
	}
	ok := true
	ids := make([]identityPattern, 0, len(a.Spec.Identities)+len(a.Spec.IdentityRefs))
	for i, s := range a.Spec.Identities {
		p, err := parseIdentityPattern(string(s))
		if err != nil {
			c.fail(kind, &a.ObjectMeta, fmt.Sprintf("spec.identities[%d]", i), "%v", err)
			ok = false
			continue
		}
		ids = append(ids, p)
	}
	for i, r := range a.Spec.IdentityRefs {
		id := trust.ID{TrustDomain: c.trustDomain, Namespace: cmp.Or(r.Namespace, a.Namespace), ServiceAccount: r.Name}
		if err := id.Validate(); err != nil {
			c.fail(kind, &a.ObjectMeta, fmt.Sprintf("spec.identityRefs[%d]", i), "%v", err)
			ok = false
			continue
		}
		ids = append(ids, identityPattern{kind: exactIdentity, id: id})
	}
	return ids, ok
}

func (c *compiler) networks(a *policyv1alpha1.NetworkAuthentication) ([]network, bool) {
	const kind = "NetworkAuthentication"
	if !c.inNamespace(kind, &a.ObjectMeta) {
		return nil, false
	}
	if len(a.Spec.Networks) == 0 {
		c.fail(kind, &a.ObjectMeta, "spec.networks", "is empty: give at least one network, or delete it")
		return nil, false
	}
	ok := true
	nets := make([]network, 0, len(a.Spec.Networks))
	for i, n := range a.Spec.Networks {
		field := fmt.Sprintf("spec.networks[%d]", i)
		cidr, err := parseCIDR(n.CIDR)
		if err != nil {
			c.fail(kind, &a.ObjectMeta, field+".cidr", "%v", err)
			ok = false
			continue
		}
		net := network{cidr: cidr}
		for j, e := range n.Except {
			ex, err := parseCIDR(e)
			switch {
			case err != nil:
				c.fail(kind, &a.ObjectMeta, fmt.Sprintf("%s.except[%d]", field, j), "%v", err)
				ok = false
			case ex.Bits() < cidr.Bits() || !cidr.Contains(ex.Addr()):
				c.fail(kind, &a.ObjectMeta, fmt.Sprintf("%s.except[%d]", field, j), "%s is not within %s: an exception is a part of the network", ex, cidr)
				ok = false
			default:
				net.except = append(net.except, ex)
			}
		}
		nets = append(nets, net)
	}
	return nets, ok
}

// parseCIDR parses a network, dropping host bits as the CIDR type says.
func parseCIDR(s policyv1alpha1.CIDR) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(string(s))
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%.64q is not a CIDR such as 10.0.0.0/8 or fd00::/8 (write a single address as 10.1.2.3/32)", s)
	case p.Addr().Is4In6():
		// Authorize unmaps client addresses, so such a network would never match.
		return netip.Prefix{}, fmt.Errorf("%.64q is an IPv4 network written as IPv6: write it as IPv4", s)
	}
	return p.Masked(), nil
}

func (c *compiler) policy(p *policyv1alpha1.AuthorizationPolicy, meshTLS map[string][]identityPattern, networks map[string][]network) (*authorizationPolicy, bool) {
	const kind = "AuthorizationPolicy"
	if !c.inNamespace(kind, &p.ObjectMeta) {
		return nil, false
	}
	ok := true
	switch t := p.Spec.TargetRef; t.Kind {
	case policyv1alpha1.TargetServer:
		if t.Name == "" {
			c.fail(kind, &p.ObjectMeta, "spec.targetRef.name", "is empty: name the Server the policy opens")
			ok = false
		}
	case policyv1alpha1.TargetNamespace:
		if t.Name != "" && t.Name != p.Namespace {
			c.fail(kind, &p.ObjectMeta, "spec.targetRef.name", "names namespace %s, but a policy applies only to its own namespace, %s: leave the name out, or move the policy to %s", t.Name, p.Namespace, t.Name)
			ok = false
		}
	default:
		c.fail(kind, &p.ObjectMeta, "spec.targetRef.kind", "%q is not %s or %s", t.Kind, policyv1alpha1.TargetServer, policyv1alpha1.TargetNamespace)
		ok = false
	}
	if len(p.Spec.RequiredAuthenticationRefs) == 0 {
		c.fail(kind, &p.ObjectMeta, "spec.requiredAuthenticationRefs", "is empty: require at least one authentication (a NetworkAuthentication of 0.0.0.0/0 and ::/0 lets everyone in)")
		return nil, false
	}
	out := &authorizationPolicy{name: p.Name}
	names := make([]string, 0, len(p.Spec.RequiredAuthenticationRefs))
	for i, ref := range p.Spec.RequiredAuthenticationRefs {
		field := fmt.Sprintf("spec.requiredAuthenticationRefs[%d]", i)
		if ref.Name == "" {
			c.fail(kind, &p.ObjectMeta, field+".name", "is empty: name the %s", ref.Kind)
			ok = false
			continue
		}
		if ref.Namespace != "" && ref.Kind != policyv1alpha1.KindServiceAccount {
			c.fail(kind, &p.ObjectMeta, field+".namespace", "is only for kind ServiceAccount: a %s must be in the policy's namespace", ref.Kind)
			ok = false
			continue
		}
		r, err := c.requirement(p, ref, meshTLS, networks)
		if err != nil {
			c.fail(kind, &p.ObjectMeta, field, "%v", err)
			ok = false
			continue
		}
		out.required = append(out.required, r)
		names = append(names, string(ref.Kind)+" "+refName(ref, p.Namespace))
	}
	out.allowed = fmt.Sprintf("AuthorizationPolicy %s allows the client: it passes %s", p.Name, strings.Join(names, " and "))
	return out, ok
}

func refName(ref policyv1alpha1.AuthenticationRef, namespace string) string {
	if ref.Kind == policyv1alpha1.KindServiceAccount {
		return cmp.Or(ref.Namespace, namespace) + "/" + ref.Name
	}
	return ref.Name
}

// requirement resolves one required authentication and renders its reasons.
func (c *compiler) requirement(p *policyv1alpha1.AuthorizationPolicy, ref policyv1alpha1.AuthenticationRef, meshTLS map[string][]identityPattern, networks map[string][]network) (requirement, error) {
	prefix := fmt.Sprintf("AuthorizationPolicy %s requires %s %s", p.Name, ref.Kind, refName(ref, p.Namespace))
	switch ref.Kind {
	case policyv1alpha1.KindMeshTLSAuthentication:
		ids, found := meshTLS[ref.Name]
		if !found {
			return missingRequirement(prefix, c.namespace), nil
		}
		return requirement{kind: byMeshTLS, identities: ids,
			unmet:     prefix + ", which does not list the client's identity",
			plaintext: prefix + ", and the client is plaintext: it has no mesh identity"}, nil
	case policyv1alpha1.KindNetworkAuthentication:
		nets, found := networks[ref.Name]
		if !found {
			return missingRequirement(prefix, c.namespace), nil
		}
		r := requirement{kind: byNetwork, networks: nets, unmet: prefix + ", and the client's address is in none of its networks"}
		r.plaintext = r.unmet
		return r, nil
	case policyv1alpha1.KindServiceAccount:
		id := trust.ID{TrustDomain: c.trustDomain, Namespace: cmp.Or(ref.Namespace, p.Namespace), ServiceAccount: ref.Name}
		if err := id.Validate(); err != nil {
			return requirement{}, err
		}
		return requirement{kind: byServiceAccount, identity: id,
			unmet:     fmt.Sprintf("%s, whose identity %s the client does not have (a workload of another cluster needs a MeshTLSAuthentication naming its trust domain)", prefix, id),
			plaintext: fmt.Sprintf("%s, whose identity is %s, and the client is plaintext: it has no mesh identity", prefix, id)}, nil
	}
	return requirement{}, fmt.Errorf("kind %q is not %s, %s or %s", ref.Kind, policyv1alpha1.KindMeshTLSAuthentication, policyv1alpha1.KindNetworkAuthentication, policyv1alpha1.KindServiceAccount)
}

func missingRequirement(prefix, namespace string) requirement {
	r := requirement{kind: missing, unmet: prefix + ", which does not exist in namespace " + namespace + ": no client passes until it does"}
	r.plaintext = r.unmet
	return r
}

// deniedReason is what a Server's denial says when it cannot name the one policy that failed.
func deniedReason(s *server) string {
	if len(s.policies) == 0 {
		return "no AuthorizationPolicy targets Server " + s.name + " or its namespace: a port a Server selects is denied to every client until one does"
	}
	names := make([]string, len(s.policies))
	for i, p := range s.policies {
		names[i] = p.name
	}
	return fmt.Sprintf("none of the AuthorizationPolicies of Server %s (%s) allows the client", s.name, strings.Join(names, ", "))
}
