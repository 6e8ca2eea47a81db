package multicluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

func TestAllow(t *testing.T) {
	out, _, err := run(newFactory(&rest.Config{Host: westHost}), "allow", "--peer", "west")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents, want a ServiceAccount, a ClusterRoleBinding and a Secret:\n%s", len(docs), out)
	}
	var sa corev1.ServiceAccount
	var crb rbacv1.ClusterRoleBinding
	var secret corev1.Secret
	for i, obj := range []runtime.Object{&sa, &crb, &secret} {
		if err := yaml.UnmarshalStrict([]byte(docs[i]), obj); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, docs[i])
		}
	}
	if sa.Name != "remote-reader-west" || sa.Namespace != Namespace {
		t.Errorf("ServiceAccount %s/%s, want %s/remote-reader-west", sa.Namespace, sa.Name, Namespace)
	}
	// Read-only: the binding names the reader's ClusterRole, nothing else.
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != "meshfed-remote-reader" || len(crb.Subjects) != 1 || crb.Subjects[0].Name != sa.Name || crb.Subjects[0].Namespace != Namespace {
		t.Errorf("binding %+v, want meshfed-remote-reader for %s/%s alone", crb, Namespace, sa.Name)
	}
	if secret.Name != "remote-reader-token-west" || secret.Type != corev1.SecretTypeServiceAccountToken || secret.Annotations[corev1.ServiceAccountNameKey] != sa.Name {
		t.Errorf("Secret %s of type %s for %q, want remote-reader-token-west, a token of %s", secret.Name, secret.Type, secret.Annotations[corev1.ServiceAccountNameKey], sa.Name)
	}
	for _, args := range [][]string{{"allow"}, {"allow", "--peer", "West_1"}} {
		if _, _, err := run(newFactory(&rest.Config{Host: westHost}), args...); err == nil || !strings.Contains(err.Error(), "--peer") {
			t.Errorf("%v: error %v, want one naming --peer", args, err)
		}
	}
}
