package multicluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

const westHost = "https://198.18.0.3:6443"

func newLink(name string, mods ...func(*mcv1alpha1.Link)) *mcv1alpha1.Link {
	l := &mcv1alpha1.Link{
		TypeMeta:   metav1.TypeMeta{APIVersion: mcv1alpha1.GroupVersion.String(), Kind: "Link"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: mcv1alpha1.LinkSpec{
			TargetClusterName: name,
			CredentialsSecret: CredentialsSecretName(name),
			GatewayAddresses:  []string{"198.18.0.100"},
			GatewayPort:       mcv1alpha1.DefaultGatewayPort,
		},
	}
	for _, m := range mods {
		m(l)
	}
	return l
}

// mirrorLabels are the labels the link controller puts on the mirrors of the Link to cluster.
func mirrorLabels(cluster, remote string) map[string]string {
	return map[string]string{
		mcv1alpha1.LabelMirroredService: "true",
		mcv1alpha1.LabelClusterName:     cluster,
		mcv1alpha1.LabelLink:            Namespace + "." + cluster,
		mcv1alpha1.LabelRemoteName:      remote,
	}
}

func service(ns, name string, labels map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
}

func endpointSlice(ns, name string, labels map[string]string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
}

func opaqueSecret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name}}
}

func TestUnlinkGolden(t *testing.T) {
	notMine := mirrorLabels("east", "api")
	notMine[mcv1alpha1.LabelLink] = "other.east" // a Link of the same cluster elsewhere
	typed := []runtime.Object{
		opaqueSecret(CredentialsSecretName("east")),
		opaqueSecret(CredentialsSecretName("north")),
		service("shop", "web-east", mirrorLabels("east", "web")),
		service("apps", "api-east", mirrorLabels("east", "api")),
		service("apps", "api", map[string]string{mcv1alpha1.LabelExported: "true"}),
		service("apps", "api-north", mirrorLabels("north", "api")),
		service("apps", "api-east-other", notMine),
		endpointSlice("shop", "web-east-abcde", mirrorLabels("east", "web")),
		endpointSlice("apps", "api-east-fghij", mirrorLabels("east", "api")),
		endpointSlice("apps", "api-north-klmno", mirrorLabels("north", "api")),
		endpointSlice("apps", "api-xyz", nil),
	}
	f := newFactory(&rest.Config{Host: westHost}, newCluster(westHost, typed,
		toUnstructured(t, newLink("east")), toUnstructured(t, newLink("north"))))
	out, stderr, err := run(f, "unlink", "--cluster-name", "east")
	if err != nil {
		t.Fatalf("%v; stderr %q", err, stderr)
	}
	golden(t, "unlink.golden", []byte(out))
	for _, no := range []string{"north", "api-east-other", "api-xyz", "name: api\n"} {
		if strings.Contains(out, no) {
			t.Errorf("prints %q, which the Link east does not own", no)
		}
	}
}

func TestUnlinkSecretGone(t *testing.T) {
	f := newFactory(&rest.Config{Host: westHost}, newCluster(westHost, nil, toUnstructured(t, newLink("east"))))
	out, stderr, err := run(f, "unlink", "--cluster-name", "east")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "Secret") || !strings.Contains(out, "kind: Link") {
		t.Errorf("printed %q, want the Link only", out)
	}
	if !strings.Contains(stderr, "cluster-credentials-east does not exist") {
		t.Errorf("stderr %q, want a note that the Secret is gone", stderr)
	}
}

func TestUnlinkBadInput(t *testing.T) {
	f := newFactory(&rest.Config{Host: westHost}, newCluster(westHost, nil, toUnstructured(t, newLink("north"))))
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--cluster-name is required"},
		{[]string{"--cluster-name", "East"}, `--cluster-name "East" is not a DNS label`},
		{[]string{"--cluster-name", "east"}, "no Link east in namespace mesh-multicluster of this cluster (https://198.18.0.3:6443): 'kubectl -n mesh-multicluster get links' lists the linked clusters"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(f, append([]string{"unlink"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q on failure", out)
			}
		})
	}
}
