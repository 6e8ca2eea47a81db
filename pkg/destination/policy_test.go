package destination

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/policy"
)

// createPolicy writes a policy object as an admin.
func createPolicy(t *testing.T, resource string, obj runtime.Object) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	if _, err := suite.policy.Resource(policyv1alpha1.GroupVersion.WithResource(resource)).Namespace(u.GetNamespace()).
		Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating %s %s: %v", resource, u.GetName(), err)
	}
}

// nextPolicy receives the next PolicyUpdate and decodes it.
func nextPolicy(t *testing.T, stream destinationv1.Destination_GetPolicyClient) policy.Objects {
	t.Helper()
	u, err := stream.Recv()
	if err != nil {
		t.Fatalf("receiving a policy update: %v", err)
	}
	var objs policy.Objects
	if err := json.Unmarshal(u.GetObjects(), &objs); err != nil {
		t.Fatalf("decoding %s: %v", u.GetObjects(), err)
	}
	return objs
}

func TestGetPolicy(t *testing.T) {
	ctx := testContext(t)
	ns := newNamespace(t)
	createPolicy(t, resServers, &policyv1alpha1.Server{
		TypeMeta:   metav1.TypeMeta{APIVersion: policyv1alpha1.GroupVersion.String(), Kind: "Server"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-http", Namespace: ns},
		Spec: policyv1alpha1.ServerSpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Port:        intstr.FromString("http"),
		},
	})
	// An object of another namespace is not sent.
	other := newNamespace(t)
	createPolicy(t, resServers, &policyv1alpha1.Server{
		TypeMeta:   metav1.TypeMeta{APIVersion: policyv1alpha1.GroupVersion.String(), Kind: "Server"},
		ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: other},
		Spec:       policyv1alpha1.ServerSpec{Port: intstr.FromInt32(80)},
	})

	stream, err := suite.client.GetPolicy(ctx, &destinationv1.GetPolicyRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	// The server was created before the stream: the cache may not have it yet, so wait for
	// the update that does.
	var objs policy.Objects
	for deadline := time.Now().Add(30 * time.Second); len(objs.Servers) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no update held the Server")
		}
		objs = nextPolicy(t, stream)
	}
	if len(objs.Servers) != 1 || objs.Servers[0].Name != "web-http" || objs.Servers[0].Spec.Port != intstr.FromString("http") {
		t.Fatalf("servers = %+v; want web-http on port http alone", objs.Servers)
	}
	if len(objs.AuthorizationPolicies) != 0 {
		t.Fatalf("authorization policies = %+v; want none", objs.AuthorizationPolicies)
	}
	if _, err := policy.Compile(ns, testDomain, objs); err != nil {
		t.Fatalf("the objects sent do not compile: %v", err)
	}

	createPolicy(t, resAuthorizationPolicies, &policyv1alpha1.AuthorizationPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: policyv1alpha1.GroupVersion.String(), Kind: "AuthorizationPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-from-shop", Namespace: ns},
		Spec: policyv1alpha1.AuthorizationPolicySpec{
			TargetRef: policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetServer, Name: "web-http"},
			RequiredAuthenticationRefs: []policyv1alpha1.AuthenticationRef{
				{Kind: policyv1alpha1.KindServiceAccount, Name: "shop"},
			},
		},
	})
	objs = nextPolicy(t, stream)
	if len(objs.AuthorizationPolicies) != 1 || objs.AuthorizationPolicies[0].Name != "web-from-shop" || len(objs.Servers) != 1 {
		t.Fatalf("after the AuthorizationPolicy: %+v; want web-http and web-from-shop", objs)
	}
	if objs.AuthorizationPolicies[0].ManagedFields != nil {
		t.Error("managedFields were sent")
	}
}

func TestGetPolicyRefusesBadNamespace(t *testing.T) {
	ctx := testContext(t)
	for _, ns := range []string{"", "Not_A_Label"} {
		stream, err := suite.client.GetPolicy(ctx, &destinationv1.GetPolicyRequest{Namespace: ns})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("namespace %q: %v; want InvalidArgument", ns, err)
		}
	}
}
