package multicluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/mirror"
)

const eastHost = "https://198.18.0.2:6443"

// adminConfig is the caller's own config for east: none of it may leak into what link prints.
func adminConfig(host string) *rest.Config {
	return &rest.Config{
		Host:        host,
		BearerToken: "ADMIN-TOKEN",
		TLSClientConfig: rest.TLSClientConfig{
			CertData: []byte("ADMIN-CERT"),
			KeyData:  []byte("ADMIN-KEY"),
			CAData:   []byte("ADMIN-CA"),
		},
	}
}

func readerToken(mods ...func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: RemoteReaderTokenSecret, Namespace: Namespace,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: RemoteReaderName},
		},
		Type: corev1.SecretTypeServiceAccountToken,
		Data: map[string][]byte{
			corev1.ServiceAccountTokenKey:  []byte("READER-TOKEN"),
			corev1.ServiceAccountRootCAKey: []byte("-----BEGIN CERTIFICATE-----\nEAST-CA\n-----END CERTIFICATE-----\n"),
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func gatewayService(ports []corev1.ServicePort, ingress ...corev1.LoadBalancerIngress) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayServiceName, Namespace: Namespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports},
		Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: ingress}},
	}
}

func eastFactory(objs ...runtime.Object) *fakeFactory {
	return newFactory(adminConfig(eastHost), newCluster(eastHost, objs))
}

func TestLinkGolden(t *testing.T) {
	tests := []struct {
		name   string
		objs   []runtime.Object
		args   []string
		golden string
	}{
		{
			name: "gateway read from its Service",
			objs: []runtime.Object{readerToken(), gatewayService(
				[]corev1.ServicePort{{Name: "admin", Port: 4191}, {Name: GatewayPortName, Port: 4443}},
				corev1.LoadBalancerIngress{IP: "198.18.0.100"}, corev1.LoadBalancerIngress{Hostname: "gw.east.example.com"},
			)},
			args:   []string{"--cluster-name", "east"},
			golden: "link.golden",
		},
		{
			name: "everything given by flag",
			objs: []runtime.Object{readerToken(), gatewayService(nil, corev1.LoadBalancerIngress{IP: "198.18.0.100"})},
			args: []string{
				"--cluster-name", "east", "--cluster-domain", "east.local",
				"--api-server-address", "https://api.east.example.com:443",
				"--gateway-addresses", "198.18.0.200,198.18.0.201", "--gateway-port", "4999",
				"--gateway-identity", "spiffe://meshfed.local/ns/mesh-multicluster/sa/mesh-gateway",
				"--selector", "tier in (front,back),!internal", "--create-missing-namespaces",
			},
			golden: "link_flags.golden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := run(eastFactory(tt.objs...), append([]string{"link"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v; stderr %q", err, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
			golden(t, tt.golden, []byte(out))
		})
	}
}

// What link prints is a Secret and a Link that west's controller reads: the kubeconfig
// reaches east as the remote reader, with none of the caller's credentials.
func TestLinkPrintsReaderCredentialsOnly(t *testing.T) {
	f := eastFactory(readerToken(), gatewayService(nil, corev1.LoadBalancerIngress{IP: "198.18.0.100"}))
	out, _, err := run(f, "link", "--cluster-name", "east")
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"ADMIN"} {
		if strings.Contains(out, leak) {
			t.Errorf("the output holds the caller's credentials (%s)", leak)
		}
	}
	objs, err := cmdutil.DecodeDocuments([]byte(out))
	if err != nil || len(objs) != 2 {
		t.Fatalf("%d objects, %v", len(objs), err)
	}
	secret := fromUnstructured[corev1.Secret](t, objs[0])
	link := fromUnstructured[mcv1alpha1.Link](t, objs[1])
	if secret.Name != "cluster-credentials-east" || secret.Namespace != Namespace {
		t.Errorf("Secret %s/%s", secret.Namespace, secret.Name)
	}
	config, err := mirror.ParseCredentials([]byte(secret.StringData[mcv1alpha1.CredentialsKey]))
	if err != nil {
		t.Fatal(err)
	}
	if config.Host != eastHost || config.BearerToken != "READER-TOKEN" || !strings.Contains(string(config.CAData), "EAST-CA") ||
		len(config.CertData) > 0 || len(config.KeyData) > 0 || config.Username != "" {
		t.Errorf("kubeconfig: host %q token %q CA %q cert %q: want east's server, the reader's token and east's CA only", config.Host, config.BearerToken, config.CAData, config.CertData)
	}
	if link.Name != "east" || link.Namespace != Namespace || link.Spec.TargetClusterName != "east" ||
		link.Spec.CredentialsSecret != secret.Name || link.Spec.GatewayPort != mcv1alpha1.DefaultGatewayPort ||
		strings.Join(link.Spec.GatewayAddresses, ",") != "198.18.0.100" {
		t.Errorf("Link %+v", link)
	}
}

func TestLinkWarnsOfLoopback(t *testing.T) {
	f := newFactory(adminConfig("https://127.0.0.1:6443"), newCluster("https://127.0.0.1:6443", []runtime.Object{readerToken()}))
	_, stderr, err := run(f, "link", "--cluster-name", "east", "--gateway-addresses", "198.18.0.100")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "other clusters cannot reach it") || !strings.Contains(stderr, "--api-server-address") {
		t.Errorf("stderr %q, want a warning naming --api-server-address", stderr)
	}
	if _, stderr, _ := run(f, "link", "--cluster-name", "east", "--gateway-addresses", "198.18.0.100", "--api-server-address", "https://198.18.0.2:6443"); stderr != "" {
		t.Errorf("warned %q with --api-server-address given", stderr)
	}
}

func TestLinkBadInput(t *testing.T) {
	good := []runtime.Object{readerToken(), gatewayService(nil, corev1.LoadBalancerIngress{IP: "198.18.0.100"})}
	tests := []struct {
		name string
		objs []runtime.Object
		args []string
		want string
	}{
		{"no cluster name", good, nil, "--cluster-name is required"},
		{"upper case", good, []string{"--cluster-name", "East"}, `--cluster-name "East" is not a DNS label`},
		{"starts with a digit", good, []string{"--cluster-name", "1east"}, `--cluster-name "1east" is not a DNS label`},
		{"too long", good, []string{"--cluster-name", strings.Repeat("e", 33)}, "is 33 characters long: at most 32"},
		{"bad domain", good, []string{"--cluster-name", "east", "--cluster-domain", "Cluster_Local"}, `--cluster-domain "Cluster_Local" is not a DNS domain`},
		{"http server", good, []string{"--cluster-name", "east", "--api-server-address", "http://198.18.0.2:6443"}, `--api-server-address "http://198.18.0.2:6443" is not an https URL`},
		{"server no scheme", good, []string{"--cluster-name", "east", "--api-server-address", "198.18.0.2:6443"}, "is not an https URL"},
		{"gateway with port", good, []string{"--cluster-name", "east", "--gateway-addresses", "198.18.0.100:4143"}, `--gateway-addresses: "198.18.0.100:4143" is neither an IP address nor a DNS name`},
		{"gateway twice", good, []string{"--cluster-name", "east", "--gateway-addresses", "a.example,a.example"}, `names "a.example" twice`},
		{"gateway empty", good, []string{"--cluster-name", "east", "--gateway-addresses", ""}, "--gateway-addresses is empty"},
		{"port 0", good, []string{"--cluster-name", "east", "--gateway-port", "0"}, "--gateway-port 0 is not a port"},
		{"port too big", good, []string{"--cluster-name", "east", "--gateway-port", "70000"}, "--gateway-port 70000 is not a port"},
		{"identity", good, []string{"--cluster-name", "east", "--gateway-identity", "mesh-gateway.mesh-multicluster"}, "--gateway-identity \"mesh-gateway.mesh-multicluster\" is not a workload identity"},
		{"identity path", good, []string{"--cluster-name", "east", "--gateway-identity", "spiffe://td/mesh-gateway"}, "spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>"},
		{"selector", good, []string{"--cluster-name", "east", "--selector", "tier in front"}, `--selector "tier in front"`},
		{"args", good, []string{"east"}, `unknown command "east"`},

		{"not installed", nil, []string{"--cluster-name", "east"}, "no Secret mesh-multicluster/remote-reader-token in this cluster (https://198.18.0.2:6443): install the multicluster components first: mesh multicluster install --cluster-name <this cluster> | kubectl apply -f -"},
		{"a peer not allowed yet", []runtime.Object{readerToken()}, []string{"--cluster-name", "east", "--peer", "west"}, "no Secret mesh-multicluster/remote-reader-token-west in this cluster (https://198.18.0.2:6443): make the credentials of that peer first: mesh multicluster allow --peer west | kubectl apply -f -"},
		{"token not yet there", []runtime.Object{readerToken(func(s *corev1.Secret) { s.Data = nil })}, []string{"--cluster-name", "east"}, "has no token or ca.crt yet: the token controller fills it moments after it is applied, so try again"},
		{"token of another account", []runtime.Object{readerToken(func(s *corev1.Secret) { s.Annotations[corev1.ServiceAccountNameKey] = "admin" })}, []string{"--cluster-name", "east"}, `is not a token of the ServiceAccount remote-reader (type "kubernetes.io/service-account-token", for "admin")`},
		{"opaque token Secret", []runtime.Object{readerToken(func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque })}, []string{"--cluster-name", "east"}, "is not a token of the ServiceAccount remote-reader"},
		{"no gateway", []runtime.Object{readerToken()}, []string{"--cluster-name", "east"}, "no gateway Service mesh-multicluster/mesh-gateway in this cluster to read the gateway's addresses from: pass --gateway-addresses"},
		{"gateway without address", []runtime.Object{readerToken(), gatewayService(nil)}, []string{"--cluster-name", "east"}, "has no LoadBalancer address yet: wait for one (kubectl -n mesh-multicluster get service mesh-gateway), or pass --gateway-addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(eastFactory(tt.objs...), append([]string{"link"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q on failure", out)
			}
		})
	}
}

func TestGatewayOf(t *testing.T) {
	tests := []struct {
		name      string
		svc       *corev1.Service
		wantAddrs string
		wantPort  int32
	}{
		{"named port", gatewayService([]corev1.ServicePort{{Name: "x", Port: 1}, {Name: GatewayPortName, Port: 4443}, {Name: GatewayProbePortName, Port: 4444}}, corev1.LoadBalancerIngress{IP: "198.18.0.100"}), "198.18.0.100", 4443},
		{"default port", gatewayService([]corev1.ServicePort{{Name: "tls", Port: 443}}, corev1.LoadBalancerIngress{Hostname: "gw.example"}), "gw.example", mcv1alpha1.DefaultGatewayPort},
		{"IP and hostname: the IP", gatewayService(nil, corev1.LoadBalancerIngress{IP: "198.18.0.100", Hostname: "gw.example"}), "198.18.0.100", mcv1alpha1.DefaultGatewayPort},
		{"repeated", gatewayService(nil, corev1.LoadBalancerIngress{IP: "198.18.0.100"}, corev1.LoadBalancerIngress{IP: "198.18.0.100"}, corev1.LoadBalancerIngress{IP: "198.18.0.101"}), "198.18.0.100,198.18.0.101", mcv1alpha1.DefaultGatewayPort},
		{"none", gatewayService(nil), "", mcv1alpha1.DefaultGatewayPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs, port, probe := gatewayOf(tt.svc)
			if strings.Join(addrs, ",") != tt.wantAddrs || port != tt.wantPort {
				t.Errorf("got %v %d, want %s %d", addrs, port, tt.wantAddrs, tt.wantPort)
			}
			if wantProbe := int32(GatewayProbePort); tt.wantPort == 4443 && probe != 4444 || tt.wantPort != 4443 && probe != wantProbe {
				t.Errorf("probe port %d", probe)
			}
		})
	}
}

// clusterProperty is the ClusterProperty cluster.clusterset.k8s.io naming the cluster name.
func clusterProperty(name string) runtime.Object {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "about.k8s.io/v1alpha1", "kind": "ClusterProperty",
		"metadata": map[string]any{"name": "cluster.clusterset.k8s.io"},
		"spec":     map[string]any{"value": name},
	}}
}

// The cluster's name comes from its ClusterProperty where it has one: --cluster-name may be
// left out, and must agree when given.
func TestLinkClusterNameFromClusterProperty(t *testing.T) {
	typed := []runtime.Object{readerToken(), gatewayService(nil, corev1.LoadBalancerIngress{IP: "198.18.0.100"})}
	tests := []struct {
		name     string
		property string
		args     []string
		want     string // in the Link, or in the error
		fails    bool
	}{
		{"the property alone", "east", nil, "targetClusterName: east", false},
		{"the property and the same flag", "east", []string{"--cluster-name", "east"}, "targetClusterName: east", false},
		{"the flag alone", "", []string{"--cluster-name", "east"}, "targetClusterName: east", false},
		{"they disagree", "east", []string{"--cluster-name", "north"}, "--cluster-name north, but this cluster (https://198.18.0.2:6443) is named east by its ClusterProperty cluster.clusterset.k8s.io", true},
		{"neither", "", nil, "--cluster-name is required, as this cluster (https://198.18.0.2:6443) has no ClusterProperty cluster.clusterset.k8s.io", true},
		{"a property that is no cluster name", "East_1", nil, `the ClusterProperty cluster.clusterset.k8s.io names this cluster "East_1"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dyn []runtime.Object
			if tt.property != "" {
				dyn = append(dyn, clusterProperty(tt.property))
			}
			f := newFactory(adminConfig(eastHost), newCluster(eastHost, typed, dyn...))
			out, _, err := run(f, append([]string{"link"}, tt.args...)...)
			switch {
			case tt.fails && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			case !tt.fails && err != nil:
				t.Fatal(err)
			case !tt.fails && !strings.Contains(out, tt.want):
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
