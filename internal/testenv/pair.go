package testenv

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/deploy"
)

// Cluster is one running apiserver and a client of it as an admin.
type Cluster struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// Stop stops the apiserver and its etcd.
func (c *Cluster) Stop() error { return c.Env.Stop() }

// Pair is a linked pair of apiservers: Local, where Links and mirrors live, with every CRD
// of deploy/, and Remote, which exports, with the ServiceExport CRD and a user "reader" that
// may only read what `mesh multicluster install` lets the remote reader read.
type Pair struct {
	Local, Remote *Cluster
	// ReaderKubeconfig reaches Remote as the reader; AdminKubeconfig as an admin.
	ReaderKubeconfig, AdminKubeconfig []byte
}

// StartPair starts both apiservers. Stop them with Pair.Stop, also on failure.
func StartPair(ctx context.Context, assets string, scheme *runtime.Scheme) (*Pair, error) {
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, m := range deploy.CRDs() {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(m.Data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		crds = append(crds, &crd)
	}
	p := &Pair{}
	var err error
	if p.Local, err = start(assets, scheme, crds); err != nil {
		return nil, err
	}
	if p.Remote, err = start(assets, scheme, crds); err != nil {
		p.Local.Stop()
		return nil, err
	}
	if err := SetUpReader(ctx, p.Remote.Client, "reader"); err != nil {
		p.Stop()
		return nil, err
	}
	if p.ReaderKubeconfig, err = p.Remote.Kubeconfig(envtest.User{Name: "reader"}); err != nil {
		p.Stop()
		return nil, err
	}
	if p.AdminKubeconfig, err = p.Remote.Kubeconfig(envtest.User{Name: "admin", Groups: []string{"system:masters"}}); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Stop stops both apiservers.
func (p *Pair) Stop() {
	p.Local.Stop()
	p.Remote.Stop()
}

// Start starts one apiserver with crds installed.
func start(assets string, scheme *runtime.Scheme, crds []*apiextensionsv1.CustomResourceDefinition) (*Cluster, error) {
	env := New(assets)
	env.CRDs = crds
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting an apiserver: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		env.Stop()
		return nil, err
	}
	return &Cluster{Env: env, Config: cfg, Client: c}, nil
}

// StartCluster starts one more apiserver, as a second remote.
func StartCluster(assets string, scheme *runtime.Scheme) (*Cluster, error) {
	return start(assets, scheme, nil)
}

// Kubeconfig provisions user and returns a kubeconfig that reaches the apiserver as it.
func (c *Cluster) Kubeconfig(user envtest.User) ([]byte, error) {
	u, err := c.Env.AddUser(user, nil)
	if err != nil {
		return nil, err
	}
	return u.KubeConfig()
}

// SetUpReader gives user the RBAC `mesh multicluster install` gives the remote reader: read
// Services, Pods, EndpointSlices and ServiceExports, and get the cluster's ClusterProperty,
// nothing else.
func SetUpReader(ctx context.Context, c client.Client, user string) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "meshfed-remote-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"multicluster.x-k8s.io"}, Resources: []string{"serviceexports"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"about.k8s.io"}, Resources: []string{"clusterproperties"}, ResourceNames: []string{"cluster.clusterset.k8s.io"}, Verbs: []string{"get"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "meshfed-remote-reader-" + user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: user}},
	}
	if err := c.Create(ctx, role); err != nil && !isAlreadyExists(err) {
		return err
	}
	return c.Create(ctx, binding)
}

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }
