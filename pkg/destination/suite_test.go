package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/testenv"
	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
)

const testDomain = "west.meshfed.local"

// The suite runs one destination service against a real apiserver, as the user the
// manifest's RBAC describes, and reaches it over a real gRPC connection on loopback (no TLS
// but in tls_test.go). Nothing is faked: the tests write Services, EndpointSlices (envtest
// runs no endpointslice controller) and pods, and read what a proxy would read.
var suite struct {
	cluster *testenv.Cluster
	admin   kubernetes.Interface
	// service reaches the apiserver with the RBAC of deploy/charts/meshfed/templates/destination.yaml.
	service kubernetes.Interface
	// serviceDynamic is the same user's dynamic client, for policy objects.
	serviceDynamic dynamic.Interface
	// policy writes policy objects as an admin.
	policy dynamic.Interface
	server *Server
	reg    *prometheus.Registry
	client destinationv1.DestinationClient
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	assets, err := testenv.Assets(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest assets:", err)
		return 1
	}
	c, err := testenv.StartCluster(assets, clientgoscheme.Scheme)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()
	if err := setUp(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		return 1
	}
	return m.Run()
}

func setUp(ctx context.Context, c *testenv.Cluster) error {
	suite.cluster = c
	var err error
	if suite.admin, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	if suite.policy, err = dynamic.NewForConfig(c.Config); err != nil {
		return err
	}
	if err := installPolicyCRDs(c); err != nil {
		return err
	}
	if suite.service, suite.serviceDynamic, err = serviceClient(ctx, c, suite.admin); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	suite.reg = prometheus.NewRegistry()
	metrics, err := NewMetrics(suite.reg)
	if err != nil {
		return err
	}
	if suite.server, err = New(Options{Client: suite.service, Dynamic: suite.serviceDynamic, TrustDomain: testDomain, Metrics: metrics, Log: log}); err != nil {
		return err
	}
	if err := suite.server.Start(ctx); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	destinationv1.RegisterDestinationServer(g, suite.server)
	go g.Serve(lis)
	context.AfterFunc(ctx, g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	suite.client = destinationv1.NewDestinationClient(conn)
	return nil
}

// serviceClient binds a user to the ClusterRole (and any Role) of the rendered manifest, with
// their rules as they are, and returns a client as that user: the tests then prove the
// manifest's RBAC is enough.
func serviceClient(ctx context.Context, c *testenv.Cluster, admin kubernetes.Interface) (kubernetes.Interface, dynamic.Interface, error) {
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mesh-system"}}, metav1.CreateOptions{}); err != nil {
		return nil, nil, err
	}
	manifests, err := deploy.ControlPlane(deploy.ControlPlaneValues{Registry: "test", Version: "dev", TrustDomain: testDomain})
	if err != nil {
		return nil, nil, err
	}
	const user = "destination"
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user}}
	var bound int
	for _, m := range manifests {
		if m.Path != "charts/meshfed/templates/destination.yaml" {
			continue
		}
		d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(m.Data), 4096)
		for {
			var u unstructured.Unstructured
			if err := d.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, nil, err
			}
			switch u.GetKind() {
			case "ClusterRole":
				var r rbacv1.ClusterRole
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
					return nil, nil, err
				}
				if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); err != nil {
					return nil, nil, err
				}
				if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "test-" + r.Name}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Name},
				}, metav1.CreateOptions{}); err != nil {
					return nil, nil, err
				}
				bound++
			case "Role":
				var r rbacv1.Role
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
					return nil, nil, err
				}
				if _, err := admin.RbacV1().Roles(r.Namespace).Create(ctx, &r, metav1.CreateOptions{}); err != nil {
					return nil, nil, err
				}
				if _, err := admin.RbacV1().RoleBindings(r.Namespace).Create(ctx, &rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "test-" + r.Name, Namespace: r.Namespace}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
				}, metav1.CreateOptions{}); err != nil {
					return nil, nil, err
				}
				bound++
			}
		}
	}
	if bound != 1 {
		return nil, nil, fmt.Errorf("charts/meshfed/templates/destination.yaml gave %d roles; want a ClusterRole alone (the service reads no Secret)", bound)
	}
	kubeconfig, err := c.Kubeconfig(envtest.User{Name: user})
	if err != nil {
		return nil, nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kube, dyn, nil
}

// installPolicyCRDs installs the policy CRDs of deploy/ and waits until they are served.
func installPolicyCRDs(c *testenv.Cluster) error {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, m := range deploy.PolicyCRDs() {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(m.Data, &crd); err != nil {
			return fmt.Errorf("%s: %w", m.Path, err)
		}
		crds = append(crds, &crd)
	}
	_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{CRDs: crds})
	return err
}

var (
	namespacesMu sync.Mutex
	namespaces   int
)

// newNamespace makes a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	namespacesMu.Lock()
	namespaces++
	name := fmt.Sprintf("test-%d", namespaces)
	namespacesMu.Unlock()
	if _, err := suite.admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
