package mirror

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/testenv"
	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// The suite runs the controllers against two real apiservers: "local", where Links and
// mirrors live, and "remote", the linked cluster that exports. Nothing is faked.
type side struct {
	env    *envtest.Environment
	cfg    *rest.Config
	client client.Client
}

var (
	localSide, remoteSide side
	// readerKubeconfig reaches the remote as a user that may only read, as the credentials
	// `mesh multicluster link` makes; adminKubeconfig as one that may do anything.
	readerKubeconfig, adminKubeconfig []byte
	// localCache is what the controllers read the local side through: a test that changes
	// what they must see before it acts waits for it there.
	localCache client.Reader
)

const (
	linkNamespace = "mesh-multicluster"
	// localCluster is the local side's name in its clusterset.
	localCluster = "west"
)

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
	scheme, err := Scheme()
	if err != nil {
		panic(err)
	}
	pair, err := testenv.StartPair(ctx, assets, scheme)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pair.Stop()
	localSide = side{env: pair.Local.Env, cfg: pair.Local.Config, client: pair.Local.Client}
	remoteSide = side{env: pair.Remote.Env, cfg: pair.Remote.Config, client: pair.Remote.Client}
	readerKubeconfig, adminKubeconfig = pair.ReaderKubeconfig, pair.AdminKubeconfig
	if err := localSide.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: linkNamespace}}); err != nil {
		panic(err)
	}
	// The local cluster's name in its clusterset, as `mesh install --cluster-name` writes it.
	if err := localSide.client.Create(ctx, &aboutv1alpha1.ClusterProperty{ObjectMeta: metav1.ObjectMeta{Name: aboutv1alpha1.ClusterIDProperty}, Spec: aboutv1alpha1.ClusterPropertySpec{Value: localCluster}}); err != nil {
		panic(err)
	}

	// The range of ClusterSetIPs, as `mesh multicluster install` makes it.
	if err := localSide.client.Create(ctx, &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: mcv1alpha1.ClusterSetIPRangeName, Labels: map[string]string{mcv1alpha1.LabelClusterSetIPRange: "true"}},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{deploy.DefaultClusterSetIPRange}},
	}); err != nil {
		panic(err)
	}

	mgr, err := ctrl.NewManager(localSide.cfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   CacheOptions(linkNamespace),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		panic(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	localCache = mgr.GetCache()
	if err := Setup(mgr, log, Options{DialGateway: dialGateway, GatewayMembers: fetchSuiteMembers, GatewayMembersEvery: 100 * time.Millisecond}); err != nil {
		panic(err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// fixture is one test's Link and namespace, on both sides.
type fixture struct {
	t         *testing.T
	ctx       context.Context
	link      *mcv1alpha1.Link
	namespace string
}

var fixtures int

// newFixture makes a namespace on both sides and a Link named after the test, whose
// credentials Secret holds kubeconfig.
func newFixture(t *testing.T, kubeconfig []byte, mods ...func(*mcv1alpha1.Link)) *fixture {
	t.Helper()
	fixtures++
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, namespace: fmt.Sprintf("test-%d", fixtures)}
	for _, c := range []client.Client{localSide.client, remoteSide.client} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.namespace}}); err != nil {
			t.Fatal(err)
		}
	}
	cluster := fmt.Sprintf("east%d", fixtures)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "credentials-" + cluster, Namespace: linkNamespace},
		Data:       map[string][]byte{mcv1alpha1.CredentialsKey: kubeconfig},
	}
	if kubeconfig != nil {
		if err := localSide.client.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	f.link = &mcv1alpha1.Link{
		ObjectMeta: metav1.ObjectMeta{Name: cluster, Namespace: linkNamespace},
		Spec: mcv1alpha1.LinkSpec{
			TargetClusterName: cluster,
			CredentialsSecret: secret.Name,
			GatewayAddresses:  []string{"198.18.0.200"},
			GatewayPort:       4143,
		},
	}
	for _, m := range mods {
		m(f.link)
	}
	if err := localSide.client.Create(ctx, f.link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		localSide.client.Delete(ctx, f.link)
		// Every Link sees every namespace of the one remote: what a test exported must not
		// stay in the other tests' Links' status (envtest runs no namespace controller, so
		// deleting the namespace would delete nothing in it).
		var svcs corev1.ServiceList
		if err := remoteSide.client.List(ctx, &svcs, client.InNamespace(f.namespace)); err == nil {
			for i := range svcs.Items {
				remoteSide.client.Delete(ctx, &svcs.Items[i])
			}
		}
	})
	return f
}
