package cmdutil

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPrintYAMLLeavesOutNoise(t *testing.T) {
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: "a"},
	}
	var b bytes.Buffer
	if err := PrintYAML(&b, ns, ns); err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\nspec: {}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\nspec: {}\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPrintYAMLNeedsKind(t *testing.T) {
	if err := PrintYAML(&bytes.Buffer{}, &corev1.Namespace{}); err == nil {
		t.Error("printed an object with no apiVersion and kind")
	}
}
