package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
)

// crdValidator checks an object as the apiserver does on create: defaults, then the OpenAPI
// schema, then the CEL rules. It runs the apiserver's own code on the CRDs of deploy/, so
// that what `kubectl apply` refuses is tested with no apiserver running.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// policyCRDs reads the policy CRDs that deploy embeds, by kind, as the apiserver's internal
// type.
func policyCRDs(t *testing.T) map[string]*apiextensions.CustomResourceDefinition {
	t.Helper()
	out := map[string]*apiextensions.CustomResourceDefinition{}
	for _, m := range deploy.CRDs() {
		var v1 apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(m.Data, &v1); err != nil {
			t.Fatalf("%s: %v", m.Path, err)
		}
		if v1.Spec.Group != policyv1alpha1.GroupVersion.Group {
			continue
		}
		var internal apiextensions.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &internal, nil); err != nil {
			t.Fatalf("%s: %v", m.Path, err)
		}
		// The apiserver records the storage version on create, before it validates.
		for _, v := range internal.Spec.Versions {
			if v.Storage {
				internal.Status.StoredVersions = append(internal.Status.StoredVersions, v.Name)
			}
		}
		out[internal.Spec.Names.Kind] = &internal
	}
	return out
}

func newCRDValidator(t *testing.T, crd *apiextensions.CustomResourceDefinition) *crdValidator {
	t.Helper()
	// The internal type holds a schema shared by every version at the top.
	if len(crd.Spec.Versions) != 1 || crd.Spec.Validation == nil {
		t.Fatalf("%s: want one version with a schema", crd.Name)
	}
	props := crd.Spec.Validation.OpenAPIV3Schema
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatalf("%s: %v", crd.Name, err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatalf("%s: %v", crd.Name, err)
	}
	return &crdValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
}

func (v *crdValidator) validate(obj map[string]any) field.ErrorList {
	structuraldefaulting.Default(obj, v.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, v.schema)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// The apiserver accepts every CRD: the CEL rules compile and fit the cost budget.
func TestCRDsAreValid(t *testing.T) {
	crds := policyCRDs(t)
	for _, kind := range []string{"Server", "AuthorizationPolicy", "MeshTLSAuthentication", "NetworkAuthentication"} {
		crd, ok := crds[kind]
		if !ok {
			t.Errorf("deploy.CRDs() holds no CRD for %s: run make generate", kind)
			continue
		}
		if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), crd); len(errs) > 0 {
			t.Errorf("%s: the apiserver would refuse the CRD: %v", crd.Name, errs.ToAggregate())
		}
		if crd.Spec.Scope != apiextensions.NamespaceScoped {
			t.Errorf("%s is %s, want Namespaced", crd.Name, crd.Spec.Scope)
		}
	}
}

func TestCRDValidation(t *testing.T) {
	const (
		ok       = ""
		identity = "an identity must be spiffe://"
	)
	tests := []struct {
		name string
		kind string
		spec string // YAML
		// field is the path the apiserver names ("" when the object is accepted), msg a
		// part of its message.
		field, msg string
	}{
		{name: "server on a port number", kind: "Server", spec: `{podSelector: {matchLabels: {app: web}}, port: 8080}`},
		{name: "server on a port name", kind: "Server", spec: `{podSelector: {}, port: http, proxyProtocol: gRPC}`},
		{name: "server on port 0", kind: "Server", spec: `{podSelector: {}, port: 0}`, field: "spec.port", msg: "port must be a number from 1 to 65535"},
		{name: "server on port 65536", kind: "Server", spec: `{podSelector: {}, port: 65536}`, field: "spec.port", msg: "port must be a number"},
		{name: "server on an upper-case port name", kind: "Server", spec: `{podSelector: {}, port: HTTP}`, field: "spec.port", msg: "container port name"},
		{name: "server on a numeric string", kind: "Server", spec: `{podSelector: {}, port: "8080"}`, field: "spec.port", msg: "with a letter"},
		{name: "server on a long port name", kind: "Server", spec: `{podSelector: {}, port: abcdefghijklmnop}`, field: "spec.port", msg: "at most 15"},
		{name: "server with no selector", kind: "Server", spec: `{port: 80}`, field: "spec.podSelector", msg: "Required"},
		{name: "server with a bad protocol", kind: "Server", spec: `{podSelector: {}, port: 80, proxyProtocol: http}`, field: "spec.proxyProtocol", msg: "Unsupported value"},

		{name: "policy on a server", kind: "AuthorizationPolicy", spec: `{targetRef: {kind: Server, name: web-http}, requiredAuthenticationRefs: [{kind: MeshTLSAuthentication, name: east-cart}, {kind: NetworkAuthentication, name: lan}]}`},
		{name: "policy on the namespace", kind: "AuthorizationPolicy", spec: `{targetRef: {kind: Namespace}, requiredAuthenticationRefs: [{kind: ServiceAccount, name: cart, namespace: shop}]}`},
		{name: "policy on a server with no name", kind: "AuthorizationPolicy", spec: `{targetRef: {kind: Server}, requiredAuthenticationRefs: [{kind: ServiceAccount, name: cart}]}`, field: "spec.targetRef", msg: "name is required when kind is Server"},
		{name: "policy on a Deployment", kind: "AuthorizationPolicy", spec: `{targetRef: {kind: Deployment, name: web}, requiredAuthenticationRefs: [{kind: ServiceAccount, name: cart}]}`, field: "spec.targetRef.kind", msg: "Unsupported value"},
		{name: "policy requiring nothing", kind: "AuthorizationPolicy", spec: `{targetRef: {kind: Namespace}, requiredAuthenticationRefs: []}`, field: "spec.requiredAuthenticationRefs", msg: "at least 1"},
		{name: "policy with a namespaced MeshTLSAuthentication", kind: "AuthorizationPolicy", spec: `{targetRef: {kind: Namespace}, requiredAuthenticationRefs: [{kind: ServiceAccount, name: a}, {kind: MeshTLSAuthentication, name: m, namespace: other}]}`, field: "spec.requiredAuthenticationRefs[1]", msg: "namespace is only for kind ServiceAccount"},

		{name: "identities of this and another cluster", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://west.meshfed.local/ns/shop/sa/web", "spiffe://east.meshfed.local/ns/shop/sa/*", "spiffe://east.meshfed.local/ns/*/sa/*", "*"]}`},
		{name: "identity refs only", kind: "MeshTLSAuthentication", spec: `{identityRefs: [{name: web}, {name: cart, namespace: shop}]}`},
		{name: "no identities at all", kind: "MeshTLSAuthentication", spec: `{identities: []}`, field: "spec", msg: "give identities, identityRefs or both"},
		{name: "a wildcard trust domain", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://west.meshfed.local/ns/a/sa/b", "spiffe://*/ns/shop/sa/web"]}`, field: "spec.identities[1]", msg: identity},
		{name: "a wildcard namespace only", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://east.meshfed.local/ns/*/sa/web"]}`, field: "spec.identities[0]", msg: identity},
		{name: "a partial wildcard", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://east.meshfed.local/ns/shop/sa/web-*"]}`, field: "spec.identities[0]", msg: identity},
		{name: "an upper-case identity", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://East.meshfed.local/ns/shop/sa/web"]}`, field: "spec.identities[0]", msg: identity},
		{name: "a Linkerd-style identity", kind: "MeshTLSAuthentication", spec: `{identities: ["web.shop.serviceaccount.identity.linkerd.cluster.local"]}`, field: "spec.identities[0]", msg: identity},
		{name: "a trailing slash", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://east.meshfed.local/ns/shop/sa/web/"]}`, field: "spec.identities[0]", msg: identity},
		{name: "a port in the trust domain", kind: "MeshTLSAuthentication", spec: `{identities: ["spiffe://east.meshfed.local:443/ns/shop/sa/web"]}`, field: "spec.identities[0]", msg: identity},
		{name: "an identity ref with no name", kind: "MeshTLSAuthentication", spec: `{identityRefs: [{namespace: shop}]}`, field: "spec.identityRefs[0].name", msg: "Required"},

		{name: "networks", kind: "NetworkAuthentication", spec: `{networks: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.3.4/32]}, {cidr: "fd00::/8"}, {cidr: 0.0.0.0/0}]}`},
		{name: "a bare address", kind: "NetworkAuthentication", spec: `{networks: [{cidr: 10.1.2.3}]}`, field: "spec.networks[0].cidr", msg: "write a single address as 10.1.2.3/32"},
		{name: "not a network", kind: "NetworkAuthentication", spec: `{networks: [{cidr: 10.0.0.0/8}, {cidr: 10.0.0.0/33}]}`, field: "spec.networks[1].cidr", msg: "must be a CIDR"},
		{name: "a bad exception", kind: "NetworkAuthentication", spec: `{networks: [{cidr: 10.0.0.0/8, except: [lan]}]}`, field: "spec.networks[0].except[0]", msg: "must be a CIDR"},
		{name: "an exception outside", kind: "NetworkAuthentication", spec: `{networks: [{cidr: 10.0.0.0/8, except: [192.168.0.0/16]}]}`, field: "spec.networks[0]", msg: "each CIDR of except must lie within cidr"},
		{name: "an exception of the other family", kind: "NetworkAuthentication", spec: `{networks: [{cidr: 10.0.0.0/8, except: ["fd00::/8"]}]}`, field: "spec.networks[0]", msg: "each CIDR of except must lie within cidr"},
		{name: "no networks", kind: "NetworkAuthentication", spec: `{networks: []}`, field: "spec.networks", msg: "at least 1"},
	}
	validators := map[string]*crdValidator{}
	for kind, crd := range policyCRDs(t) {
		validators[kind] = newCRDValidator(t, crd)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// As the apiserver reads a body: whole numbers are int64, not float64.
			j, err := yaml.YAMLToJSON([]byte(tt.spec))
			if err != nil {
				t.Fatalf("the test's spec: %v", err)
			}
			var spec map[string]any
			if err := utiljson.Unmarshal(j, &spec); err != nil {
				t.Fatalf("the test's spec: %v", err)
			}
			obj := map[string]any{
				"apiVersion": policyv1alpha1.GroupVersion.String(),
				"kind":       tt.kind,
				"metadata":   map[string]any{"name": "x", "namespace": "shop"},
				"spec":       spec,
			}
			errs := validators[tt.kind].validate(obj)
			if tt.field == ok {
				if len(errs) > 0 {
					t.Fatalf("refused: %v", errs.ToAggregate())
				}
				return
			}
			for _, e := range errs {
				if e.Field == tt.field && strings.Contains(e.Error(), tt.msg) {
					return
				}
			}
			t.Errorf("want an error on %s saying %q, got %v", tt.field, tt.msg, errs.ToAggregate())
		})
	}
}

// Defaults are applied by the apiserver: a Server that says no protocol detects it.
func TestServerDefaults(t *testing.T) {
	v := newCRDValidator(t, policyCRDs(t)["Server"])
	obj := map[string]any{"spec": map[string]any{"podSelector": map[string]any{}, "port": int64(80)}}
	if errs := v.validate(obj); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if got := obj["spec"].(map[string]any)["proxyProtocol"]; got != string(policyv1alpha1.ProxyProtocolUnknown) {
		t.Errorf("proxyProtocol defaults to %v, want %s", got, policyv1alpha1.ProxyProtocolUnknown)
	}
}
