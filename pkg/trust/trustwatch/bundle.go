package trustwatch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshfed/meshfed/pkg/trust"
)

// NamedFactory is an informer factory that sees one object by name in one namespace: a field
// selector, so that RBAC may grant that object alone.
func NamedFactory(client kubernetes.Interface, namespace, name string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
}

// BundleStore holds the trust bundle, as PEM, from the bundle ConfigMap.
type BundleStore struct {
	mu  sync.RWMutex
	pem string
	// changed, if set, is called with each bundle taken that differs from the last.
	changed func(pem string)
}

// NewBundleStore returns a store with no bundle yet; changed, if not nil, is told of every
// new bundle it takes.
func NewBundleStore(changed func(pem string)) *BundleStore {
	return &BundleStore{changed: changed}
}

// Load takes the bundle in a ConfigMap's data if it parses; otherwise the current one stays.
func (s *BundleStore) Load(data map[string]string) (*trust.Bundle, error) {
	p, ok := data[trust.BundleKey]
	if !ok {
		return nil, fmt.Errorf("no key %s: `mesh trust cluster` writes the anchors there", trust.BundleKey)
	}
	b, err := trust.ParseBundle([]byte(p))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	same := s.pem == p
	s.pem = p
	s.mu.Unlock()
	if !same && s.changed != nil {
		s.changed(p)
	}
	return b, nil
}

// Get returns the bundle's PEM, or "" before one is loaded.
func (s *BundleStore) Get() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pem
}

// WatchBundle keeps store equal to the bundle ConfigMap namespace/name until ctx ends. It
// returns at once; store.Get says when a bundle is in.
func WatchBundle(ctx context.Context, log *slog.Logger, client kubernetes.Interface, store *BundleStore, namespace, name string) error {
	f := NamedFactory(client, namespace, name)
	load := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return
		}
		b, err := store.Load(cm.Data)
		if err != nil {
			log.Error("trust bundle not taken; the current one stays", "configMap", namespace+"/"+name, "resourceVersion", cm.ResourceVersion, "error", err)
			return
		}
		log.Info("trust bundle loaded", "configMap", namespace+"/"+name, "resourceVersion", cm.ResourceVersion, "anchors", len(b.Anchors()))
	}
	if _, err := f.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    load,
		UpdateFunc: func(_, obj any) { load(obj) },
		DeleteFunc: func(any) {
			log.Warn("trust bundle ConfigMap deleted; keeping the last bundle until it is back", "configMap", namespace+"/"+name)
		},
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	return nil
}
