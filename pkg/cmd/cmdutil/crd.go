package cmdutil

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// CRDsGVR is the CustomResourceDefinitions' resource, read through the dynamic client.
var CRDsGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDEstablished says, as an error, why the CustomResourceDefinition name cannot serve its
// objects yet: missing, unreadable or not established.
func CRDEstablished(ctx context.Context, c *Clients, name string) error {
	u, err := c.Dynamic.Resource(CRDsGVR).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no CustomResourceDefinition %s", name)
	}
	if err != nil {
		return fmt.Errorf("reading the CustomResourceDefinition %s: %w", name, err)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, cond := range conds {
		if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("the CustomResourceDefinition %s is not established yet", name)
}
