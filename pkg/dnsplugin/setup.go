package dnsplugin

import (
	"context"
	"fmt"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	mcsinformers "sigs.k8s.io/mcs-api/pkg/client/informers/externalversions"
	mcslisters "sigs.k8s.io/mcs-api/pkg/client/listers/apis/v1alpha1"
)

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// syncTimeout bounds how long CoreDNS waits at start for the caches, as the kubernetes plugin
// does; it starts anyway, and the caches fill later (the ServiceImport CRD may come after
// CoreDNS).
const syncTimeout = 5 * time.Second

// parseConfig reads `clusterset [{ kubeconfig PATH [CONTEXT] }]`: the zone is always
// clusterset.local, and the API is reached in-cluster unless a kubeconfig is given.
func parseConfig(c *caddy.Controller) (kubeconfig, kubeContext string, err error) {
	c.Next() // the directive
	if args := c.RemainingArgs(); len(args) > 0 && !(len(args) == 1 && dns.Fqdn(args[0]) == Zone) {
		return "", "", c.Errf("clusterset serves %s only, not %v", Zone, args)
	}
	for c.NextBlock() {
		switch c.Val() {
		case "kubeconfig":
			args := c.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return "", "", c.Errf("kubeconfig takes a path and, maybe, a context")
			}
			kubeconfig = args[0]
			if len(args) == 2 {
				kubeContext = args[1]
			}
		default:
			return "", "", c.Errf("unknown property %q: clusterset takes kubeconfig only", c.Val())
		}
	}
	return kubeconfig, kubeContext, nil
}

func setup(c *caddy.Controller) error {
	kubeconfig, kubeContext, err := parseConfig(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	cfg, err := restConfig(kubeconfig, kubeContext)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	store, err := newInformerStore(cfg)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(func() error { store.start(syncTimeout); return nil })
	c.OnShutdown(func() error { close(store.stopCh); return nil })
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		return Handler{Store: store, Next: next}
	})
	return nil
}

func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	if kubeconfig == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
}

// informerStore is the Store CoreDNS answers from: informers over ServiceImports, and over
// the EndpointSlices labelled with a clusterset service's name only.
type informerStore struct {
	imports mcslisters.ServiceImportLister
	slices  discoverylisters.EndpointSliceLister
	synced  []cache.InformerSynced
	run     func(stop <-chan struct{})
	stopCh  chan struct{}
}

func newInformerStore(cfg *rest.Config) (*informerStore, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("the API: %w", err)
	}
	mcs, err := mcsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("the API: %w", err)
	}
	kf := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = mcsv1alpha1.LabelServiceName
	}))
	mf := mcsinformers.NewSharedInformerFactory(mcs, 0)
	imports, slices := mf.Multicluster().V1alpha1().ServiceImports(), kf.Discovery().V1().EndpointSlices()
	return &informerStore{
		imports: imports.Lister(),
		slices:  slices.Lister(),
		synced:  []cache.InformerSynced{imports.Informer().HasSynced, slices.Informer().HasSynced},
		run:     func(stop <-chan struct{}) { kf.Start(stop); mf.Start(stop) },
		stopCh:  make(chan struct{}),
	}, nil
}

func (s *informerStore) start(timeout time.Duration) {
	s.run(s.stopCh)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		log.Warningf("ServiceImports and EndpointSlices not read within %s; answering from them once they are", timeout)
	}
}

func (s *informerStore) ServiceImport(ns, name string) (*mcsv1alpha1.ServiceImport, bool) {
	si, err := s.imports.ServiceImports(ns).Get(name)
	return si, err == nil
}

func (s *informerStore) Slices(ns, name string) []*discoveryv1.EndpointSlice {
	out, _ := s.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{mcsv1alpha1.LabelServiceName: name}))
	return out
}
