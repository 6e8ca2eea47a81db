package multicluster

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/deploy"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// installArgs install east, which west may call through its gateway.
var installArgs = []string{"install", "--cluster-name", "east", "--allow-clusters", "west"}

func TestInstallGolden(t *testing.T) {
	out, stderr, err := run(nil, installArgs...)
	if err != nil {
		t.Fatalf("%v; stderr %q", err, stderr)
	}
	golden(t, "install.golden", []byte(out))
}

// A chosen registry and version change the link controller's and gateway's images and
// nothing else.
func TestInstallImage(t *testing.T) {
	def, _, err := run(nil, installArgs...)
	if err != nil {
		t.Fatal(err)
	}
	custom, _, err := run(nil, append(installArgs, "--registry", "registry.example.com:5000/team/meshfed/", "--version", "v0.1.0")...)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(def, "image: ghcr.io/meshfed/link:dev", "image: registry.example.com:5000/team/meshfed/link:v0.1.0", 1)
	want = strings.Replace(want, "image: ghcr.io/meshfed/gateway:dev", "image: registry.example.com:5000/team/meshfed/gateway:v0.1.0", 1)
	if custom != want {
		t.Errorf("with --registry and --version: %s", firstDiff(want, custom))
	}
}

func TestInstallBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--registry", ""}, "--registry is empty"},
		{[]string{"--registry", "https://ghcr.io/meshfed"}, `--registry "https://ghcr.io/meshfed" holds a scheme`},
		{[]string{"--registry", "Ghcr.io/Meshfed"}, `--registry "Ghcr.io/Meshfed" makes the image "Ghcr.io/Meshfed/link:dev", which is not a valid image reference`},
		{[]string{"--version", ""}, `--version "" is not an image tag`},
		{[]string{"--version", "v1:2"}, `--version "v1:2" is not an image tag`},
		{[]string{"extra"}, `unknown command "extra"`},
		{[]string{"--cluster-name", ""}, "--cluster-name is required"},
		{[]string{"--trust-domain", "East.Example"}, "--trust-domain"},
		{[]string{"--gateway-service-type", "ClusterIP"}, `--gateway-service-type "ClusterIP"`},
		{[]string{"--allow-clusters", "West"}, `--allow-clusters "West"`},
		{[]string{"--allow-clusters", "east"}, "names east, this cluster"},
		{[]string{"--allow-clusters", "west,west"}, "names west twice"},
		{[]string{"--allow-clusters", "north=bad_domain"}, "the trust domain"},
		{[]string{"--gateway=false"}, "--gateway=false leaves it out"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(nil, append(slices.Clone(installArgs), tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %d bytes on failure", len(out))
			}
		})
	}
}

// installed decodes what install prints, by kind/namespace/name.
func installed(t *testing.T, args ...string) ([]*unstructured.Unstructured, map[string]*unstructured.Unstructured) {
	t.Helper()
	if len(args) == 0 {
		args = installArgs
	}
	out, _, err := run(nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		k := u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
		if byKey[k] != nil {
			t.Errorf("%s printed twice", k)
		}
		byKey[k] = u
	}
	return objs, byKey
}

func fromUnstructured[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	if u == nil {
		t.Fatalf("%T not printed", new(T))
	}
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// The names the link controller and `link` rely on are printed, in an order kubectl can
// apply in one go.
func TestInstallPrintsWhatOthersRelyOn(t *testing.T) {
	objs, byKey := installed(t)
	for _, k := range []string{
		"CustomResourceDefinition//" + LinkCRDName,
		"Namespace//" + Namespace,
		"ServiceAccount/" + Namespace + "/" + ControllerName,
		"ClusterRole//meshfed-link-controller",
		"ClusterRoleBinding//meshfed-link-controller",
		"Role/" + Namespace + "/meshfed-link-controller",
		"RoleBinding/" + Namespace + "/meshfed-link-controller",
		"Deployment/" + Namespace + "/" + ControllerName,
		"ServiceCIDR//" + mcv1alpha1.ClusterSetIPRangeName,
		"ServiceAccount/" + Namespace + "/" + RemoteReaderName,
		"ClusterRole//meshfed-remote-reader",
		"ClusterRoleBinding//meshfed-remote-reader",
		"Secret/" + Namespace + "/" + RemoteReaderTokenSecret,
	} {
		if byKey[k] == nil {
			t.Errorf("%s not printed", k)
		}
	}
	index := func(kind, name string) int {
		return slices.IndexFunc(objs, func(u *unstructured.Unstructured) bool { return u.GetKind() == kind && u.GetName() == name })
	}
	if index("Namespace", Namespace) > index("ServiceAccount", ControllerName) {
		t.Error("the namespace comes after what lives in it")
	}
	if index("ServiceAccount", RemoteReaderName) > index("Secret", RemoteReaderTokenSecret) {
		t.Error("the token Secret comes before its ServiceAccount")
	}

	token := fromUnstructured[corev1.Secret](t, byKey["Secret/"+Namespace+"/"+RemoteReaderTokenSecret])
	if token.Type != corev1.SecretTypeServiceAccountToken || token.Annotations[corev1.ServiceAccountNameKey] != RemoteReaderName {
		t.Errorf("token Secret: type %q, annotations %v", token.Type, token.Annotations)
	}
	for _, b := range []string{"ClusterRoleBinding//meshfed-remote-reader", "ClusterRoleBinding//meshfed-link-controller", "RoleBinding/" + Namespace + "/meshfed-link-controller"} {
		rb := fromUnstructured[rbacv1.ClusterRoleBinding](t, byKey[b])
		if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Namespace != Namespace {
			t.Errorf("%s binds %v, want one ServiceAccount of %s", b, rb.Subjects, Namespace)
		}
	}
}

// The remote reader may get, list and watch Services, Pods, EndpointSlices and
// ServiceExports, and get the ClusterProperty naming the cluster, and nothing else.
func TestInstallRemoteReaderOnlyReads(t *testing.T) {
	_, byKey := installed(t)
	role := fromUnstructured[rbacv1.ClusterRole](t, byKey["ClusterRole//meshfed-remote-reader"])
	granted := map[string]bool{}
	for _, r := range role.Rules {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %v: want resource rules only", r)
		}
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						what := v + " " + qualified(g, res)
						if n != "" {
							what += "/" + n
						}
						granted[what] = true
					}
				}
			}
		}
	}
	want := map[string]bool{"get clusterproperties.about.k8s.io/cluster.clusterset.k8s.io": true}
	for _, res := range []string{"services", "pods", "endpointslices.discovery.k8s.io", "serviceexports.multicluster.x-k8s.io"} {
		for _, v := range []string{"get", "list", "watch"} {
			want[v+" "+res] = true
		}
	}
	for g := range granted {
		if !want[g] {
			t.Errorf("the remote reader may %s", g)
		}
	}
	for w := range want {
		if !granted[w] {
			t.Errorf("the remote reader may not %s", w)
		}
	}
	rb := fromUnstructured[rbacv1.ClusterRoleBinding](t, byKey["ClusterRoleBinding//meshfed-remote-reader"])
	if rb.RoleRef.Name != "meshfed-remote-reader" || rb.Subjects[0].Name != RemoteReaderName {
		t.Errorf("remote reader binding: %v -> %v", rb.Subjects, rb.RoleRef)
	}
}

func TestInstallControllerDeployment(t *testing.T) {
	_, byKey := installed(t)
	d := fromUnstructured[appsv1.Deployment](t, byKey["Deployment/"+Namespace+"/"+ControllerName])
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if d.Spec.Template.Spec.ServiceAccountName != ControllerName {
		t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(d.Spec.Template.Spec.Containers))
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/meshfed/link:dev" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
	}
	if want := []string{"--leader-elect", "--metrics-bind-address=:9990", "--health-probe-bind-address=:9991"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}
	for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/readyz", c.LivenessProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %v, want GET %s on the port health", probe, path)
		}
	}
	if i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "health" }); i < 0 || c.Ports[i].ContainerPort != 9991 {
		t.Errorf("ports %v: want health on 9991", c.Ports)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65534 ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("securityContext %+v: want non-root 65534, read-only root, no escalation, ALL capabilities dropped", sc)
	}
	if c.Resources.Requests.Cpu().String() != "10m" || c.Resources.Requests.Memory().String() != "32Mi" || c.Resources.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources %v", c.Resources)
	}
}

// The gateway runs as its own ServiceAccount, may read the trust bundle and nothing else, is
// told this cluster's trust domain and the clusters it admits, and is reached from outside.
func TestInstallGateway(t *testing.T) {
	_, byKey := installed(t, "install", "--cluster-name", "east", "--allow-clusters", "west,north=north.example.org", "--gateway-service-type", "NodePort")
	d := fromUnstructured[appsv1.Deployment](t, byKey["Deployment/"+Namespace+"/"+GatewayServiceName])
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != GatewayServiceAccount {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, GatewayServiceAccount)
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/meshfed/gateway:dev" {
		t.Errorf("image %q", c.Image)
	}
	for _, want := range []string{"--allow-cluster=west=west.meshfed.local", "--allow-cluster=north=north.example.org"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	if i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "MESHFED_TRUST_DOMAIN" }); i < 0 || c.Env[i].Value != "east.meshfed.local" {
		t.Errorf("env %v: want MESHFED_TRUST_DOMAIN=east.meshfed.local", c.Env)
	}
	if i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "MESHFED_CLUSTER_NAME" }); i < 0 || c.Env[i].Value != "east" {
		t.Errorf("env %v: want MESHFED_CLUSTER_NAME=east, which turns gossip on", c.Env)
	}
	svc := fromUnstructured[corev1.Service](t, byKey["Service/"+Namespace+"/"+GatewayServiceName])
	if svc.Spec.Type != corev1.ServiceTypeNodePort {
		t.Errorf("Service type %q, want NodePort", svc.Spec.Type)
	}
	if i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == GatewayPortName }); i < 0 || svc.Spec.Ports[i].Port != 4143 {
		t.Errorf("ports %v: want %s on 4143", svc.Spec.Ports, GatewayPortName)
	}
	role := fromUnstructured[rbacv1.Role](t, byKey["Role/mesh-system/meshfed-gateway-trust-bundle"])
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"configmaps"}) ||
		!slices.Equal(role.Rules[0].ResourceNames, []string{"meshfed-trust-bundle"}) || !slices.Equal(role.Rules[0].Verbs, []string{"get"}) {
		t.Errorf("gateway role %v: want get of the ConfigMap meshfed-trust-bundle only", role.Rules)
	}
	rb := fromUnstructured[rbacv1.RoleBinding](t, byKey["RoleBinding/mesh-system/meshfed-gateway-trust-bundle"])
	if len(rb.Subjects) != 1 || rb.Subjects[0].Name != GatewayServiceAccount || rb.Subjects[0].Namespace != Namespace {
		t.Errorf("gateway role binding subjects %v", rb.Subjects)
	}
}

func TestInstallWithoutGateway(t *testing.T) {
	_, byKey := installed(t, "install", "--gateway=false")
	for k, u := range byKey {
		if u.GetLabels()["app.kubernetes.io/name"] == GatewayServiceName {
			t.Errorf("%s printed with --gateway=false", k)
		}
	}
	if byKey["Deployment/"+Namespace+"/"+ControllerName] == nil {
		t.Error("the link controller is missing")
	}
}

// The range of ClusterSetIPs is a ServiceCIDR labelled for the link controller, of
// --clusterset-ip-range, or none when the flag is empty.
func TestInstallClusterSetIPRange(t *testing.T) {
	key := "ServiceCIDR//" + mcv1alpha1.ClusterSetIPRangeName
	tests := []struct {
		args []string
		want []string // nil: not printed
	}{
		{nil, []string{deploy.DefaultClusterSetIPRange}},
		{[]string{"--clusterset-ip-range", "10.255.0.0/20"}, []string{"10.255.0.0/20"}},
		{[]string{"--clusterset-ip-range", "fd00:10:96::/112"}, []string{"fd00:10:96::/112"}},
		{[]string{"--clusterset-ip-range", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, byKey := installed(t, append(slices.Clone(installArgs), tt.args...)...)
			u := byKey[key]
			if tt.want == nil {
				if u != nil {
					t.Errorf("%s printed", key)
				}
				return
			}
			sc := fromUnstructured[networkingv1.ServiceCIDR](t, u)
			if !slices.Equal(sc.Spec.CIDRs, tt.want) || sc.Labels[mcv1alpha1.LabelClusterSetIPRange] != "true" {
				t.Errorf("cidrs %v labels %v, want %v labelled %s=true", sc.Spec.CIDRs, sc.Labels, tt.want, mcv1alpha1.LabelClusterSetIPRange)
			}
		})
	}
	for _, bad := range []struct{ value, want string }{
		{"198.19.128.0", "is not a CIDR"},
		{"198.19.128.7/20", "host bits set: write its network, 198.19.128.0/20"},
		{"198.19.128.0/31", "give a /30 or wider"},
	} {
		_, _, err := run(nil, append(slices.Clone(installArgs), "--clusterset-ip-range", bad.value)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--clusterset-ip-range %s: %v, want an error saying %q", bad.value, err, bad.want)
		}
	}
}

// The link controller reads ServiceCIDRs and IPAddresses, to pick ClusterSetIPs, and writes
// neither: the apiserver allocates.
func TestInstallLinkControllerReadsRanges(t *testing.T) {
	_, byKey := installed(t)
	role := fromUnstructured[rbacv1.ClusterRole](t, byKey["ClusterRole//meshfed-link-controller"])
	got := map[string][]string{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == "networking.k8s.io" {
					got[res] = append(got[res], r.Verbs...)
				}
			}
		}
	}
	want := []string{"get", "list", "watch"}
	if len(got) != 2 || !slices.Equal(got["servicecidrs"], want) || !slices.Equal(got["ipaddresses"], want) {
		t.Errorf("networking.k8s.io grants %v, want %v on servicecidrs and ipaddresses only", got, want)
	}
}
