package multicluster

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	goldenfile "github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the commands print")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), string(got), *update)
}

var firstDiff = goldenfile.FirstDiff

// cluster is a fake cluster: typed and dynamic clientsets.
type cluster struct {
	kube *kubefake.Clientset
	dyn  *dynamicfake.FakeDynamicClient
	host string
}

func (c *cluster) clients() *cmdutil.Clients {
	return &cmdutil.Clients{Kube: c.kube, Dynamic: c.dyn, Host: c.host}
}

// newCluster makes a fake cluster at host holding typed objects (built-in kinds) and
// dynamic objects (unstructured: Links, ServiceExports, CRDs).
func newCluster(host string, typed []runtime.Object, dynamic ...runtime.Object) *cluster {
	listKinds := map[schema.GroupVersionResource]string{
		linksGVR:             "LinkList",
		serviceExportsGVR:    "ServiceExportList",
		crdsGVR:              "CustomResourceDefinitionList",
		clusterPropertiesGVR: "ClusterPropertyList",
	}
	return &cluster{
		kube: kubefake.NewClientset(typed...),
		dyn:  dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, dynamic...),
		host: host,
	}
}

// fakeFactory reaches fake clusters by their host: local is the one of --kubeconfig.
type fakeFactory struct {
	config   *rest.Config
	clusters map[string]*cluster
}

func newFactory(config *rest.Config, clusters ...*cluster) *fakeFactory {
	f := &fakeFactory{config: config, clusters: map[string]*cluster{}}
	for _, c := range clusters {
		f.clusters[c.host] = c
	}
	return f
}

func (f *fakeFactory) RESTConfig() (*rest.Config, error) { return rest.CopyConfig(f.config), nil }

func (f *fakeFactory) ClientsFor(c *rest.Config) (*cmdutil.Clients, error) {
	cl, ok := f.clusters[c.Host]
	if !ok {
		return nil, fmt.Errorf("dial %s: connection refused", c.Host)
	}
	return cl.clients(), nil
}

// run runs `mesh multicluster args...` against f.
func run(f cmdutil.Factory, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := NewCmdMulticluster(f, cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// toUnstructured turns a typed object into what the fake dynamic client holds.
func toUnstructured(t *testing.T, obj runtime.Object) runtime.Object {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}
