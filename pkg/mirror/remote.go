package mirror

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/meshfed/meshfed/pkg/workload"
)

// remoteState is how the controller sees a remote cluster.
type remoteState int

const (
	// remoteStarting: watches started, not yet synced. Mirrors are left exactly as they are:
	// an empty cache must not read as "nothing exported".
	remoteStarting remoteState = iota
	// remoteHealthy: the remote answers and its watches are synced.
	remoteHealthy
	// remoteUnreachable: the remote stopped answering. Mirrors stay, their endpoints not ready.
	remoteUnreachable
)

func (s remoteState) String() string {
	return [...]string{"Starting", "Healthy", "Unreachable"}[s]
}

// Probe timing: a remote is unreachable after unreachableAfter failed probes in a row,
// probeEvery apart, which sees a dead apiserver in a few seconds.
const (
	probeEvery       = time.Second
	probeTimeout     = time.Second
	unreachableAfter = 3
)

// remote is the watch of one Link's remote cluster.
type remote struct {
	cluster     cluster.Cluster
	cancel      context.CancelFunc
	credentials string // hash of the credentials it runs with
	hasExports  bool   // the remote serves ServiceExports

	mu    sync.Mutex
	state remoteState
	// lastSeen is the state the link controller last acted on; only it reads and writes it.
	lastSeen remoteState
}

func (r *remote) State() remoteState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

func (r *remote) setState(s remoteState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := r.state != s
	r.state = s
	return changed
}

// reader is what the mirror controller reads of a remote.
func (r *remote) reader() client.Reader { return r.cluster.GetCache() }

// remotes holds the remote watch of every Link. The link controller starts and stops them;
// the mirror controller reads them.
type remotes struct {
	log    *slog.Logger
	scheme *runtime.Scheme
	// enqueue asks the mirror controller to look at one remote Service.
	enqueue func(mirrorKey)
	// changed tells the link controller a remote's state changed.
	changed func(types.NamespacedName)

	mu     sync.Mutex
	byLink map[types.NamespacedName]*remote
	// refused holds the Links whose remote is not watched on purpose (their credentials
	// cannot be used): their mirrors are marked not ready. A Link in neither map is one the
	// link controller has not got to yet, whose mirrors are left as they are.
	refused map[types.NamespacedName]bool
}

func newRemotes(log *slog.Logger, scheme *runtime.Scheme, enqueue func(mirrorKey), changed func(types.NamespacedName)) *remotes {
	return &remotes{log: log, scheme: scheme, enqueue: enqueue, changed: changed, byLink: map[types.NamespacedName]*remote{}, refused: map[types.NamespacedName]bool{}}
}

func (rs *remotes) get(link types.NamespacedName) *remote {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.byLink[link]
}

// stateOf is the state of link's remote as the mirror controller acts on it.
func (rs *remotes) stateOf(link types.NamespacedName) (*remote, remoteState) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.byLink[link]; ok {
		return r, r.State()
	}
	if rs.refused[link] {
		return nil, remoteUnreachable
	}
	return nil, remoteStarting
}

// refuse stops link's remote watch because its credentials cannot be used.
func (rs *remotes) refuse(link types.NamespacedName) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.dropLocked(link)
	rs.refused[link] = true
}

// dropLocked stops link's remote watch, if it runs; rs.mu is held.
func (rs *remotes) dropLocked(link types.NamespacedName) {
	if r, ok := rs.byLink[link]; ok {
		r.cancel()
		delete(rs.byLink, link)
	}
}

// ensure runs the remote of link with cfg, restarting it when the credentials changed.
func (rs *remotes) ensure(ctx context.Context, link types.NamespacedName, cfg *rest.Config, credentials string) (*remote, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.byLink[link]; ok && r.credentials == credentials {
		return r, nil
	}
	rs.dropLocked(link)
	r, err := rs.start(link, cfg, credentials)
	if err != nil {
		return nil, err
	}
	rs.byLink[link] = r
	delete(rs.refused, link)
	return r, nil
}

// stop ends the remote watch of link, if there is one, and forgets the Link.
func (rs *remotes) stop(link types.NamespacedName) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.dropLocked(link)
	delete(rs.refused, link)
}

func (rs *remotes) start(link types.NamespacedName, cfg *rest.Config, credentials string) (*remote, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 0 // watches are long; requests are bounded by their contexts
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	hasExports := servesServiceExports(dc)
	objs := map[client.Object]cache.ByObject{
		&corev1.Service{}:            {},
		&discoveryv1.EndpointSlice{}: {},
		// A flat mirror's endpoints are the remote pods, called directly over mTLS with the
		// identity each pod's ServiceAccount gives it: the pods are read for that alone.
		&corev1.Pod{}: {Transform: func(obj any) (any, error) {
			if p, ok := obj.(*corev1.Pod); ok {
				return workload.Slim(p), nil
			}
			return obj, nil
		}},
	}
	if hasExports {
		objs[&mcsv1alpha1.ServiceExport{}] = cache.ByObject{}
	}
	c, err := cluster.New(cfg, func(o *cluster.Options) {
		o.Scheme = rs.scheme
		o.Cache.ByObject = objs
		// Only what the Link's read-only credentials may read, and nothing cached that is not
		// asked for.
		o.Cache.ReaderFailOnMissingInformer = true
		o.Cache.DefaultTransform = cache.TransformStripManagedFields()
	})
	if err != nil {
		return nil, fmt.Errorf("remote cluster: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &remote{cluster: c, cancel: cancel, credentials: credentials, hasExports: hasExports}
	for obj := range objs {
		inf, err := c.GetCache().GetInformer(ctx, obj)
		if err != nil {
			cancel()
			return nil, err
		}
		if _, isPod := obj.(*corev1.Pod); isPod {
			// A pod's change reaches its mirrors through its EndpointSlice's.
			continue
		}
		if _, err := inf.AddEventHandler(rs.handler(link)); err != nil {
			cancel()
			return nil, err
		}
	}
	log := rs.log.With("link", link.String())
	go func() {
		if err := c.Start(ctx); err != nil {
			log.Error("remote watch stopped", "err", err)
		}
	}()
	go rs.probe(ctx, link, r, dc.RESTClient(), log)
	return r, nil
}

func servesServiceExports(dc discovery.DiscoveryInterface) bool {
	res, err := dc.ServerResourcesForGroupVersion(mcsv1alpha1.GroupVersion.String())
	if err != nil {
		return false
	}
	for _, r := range res.APIResources {
		if r.Kind == "ServiceExport" {
			return true
		}
	}
	return false
}

// handler enqueues the remote Service an event is about: a Service or ServiceExport by its
// name, an EndpointSlice by the Service it belongs to.
func (rs *remotes) handler(link types.NamespacedName) toolscache.ResourceEventHandler {
	keyOf := func(obj any) (mirrorKey, bool) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		o, ok := obj.(client.Object)
		if !ok {
			return mirrorKey{}, false
		}
		name := o.GetName()
		if _, ok := o.(*discoveryv1.EndpointSlice); ok {
			if name = o.GetLabels()[discoveryv1.LabelServiceName]; name == "" {
				return mirrorKey{}, false
			}
		}
		return mirrorKey{Link: link, Namespace: o.GetNamespace(), Name: name}, true
	}
	enqueue := func(obj any) {
		if k, ok := keyOf(obj); ok {
			rs.enqueue(k)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { enqueue(obj) },
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}
}

// probe watches the remote's health until ctx ends: synced and answering is healthy; a few
// failed probes in a row is unreachable. Each change goes to the link controller.
func (rs *remotes) probe(ctx context.Context, link types.NamespacedName, r *remote, rc rest.Interface, log *slog.Logger) {
	synced := make(chan struct{})
	go func() {
		if r.cluster.GetCache().WaitForCacheSync(ctx) {
			close(synced)
		}
	}()
	failures := 0
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-synced:
			synced = nil
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := rc.Get().AbsPath("/readyz").Do(pctx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		state := r.State()
		switch {
		case err != nil:
			failures++
			if failures >= unreachableAfter {
				state = remoteUnreachable
			}
		case synced == nil:
			failures = 0
			state = remoteHealthy
		}
		if r.setState(state) {
			log.Info("remote state changed", "state", state.String(), "err", err)
			rs.changed(link)
		}
	}
}
