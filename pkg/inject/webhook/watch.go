package webhook

import (
	"context"
	"log/slog"
	"time"

	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// WatchCertSecret keeps store equal to the Secret namespace/name until ctx ends. It returns
// at once; store.Loaded says when a certificate is in.
func WatchCertSecret(ctx context.Context, log *slog.Logger, client kubernetes.Interface, store *CertStore, namespace, name string) error {
	f := trustwatch.NamedFactory(client, namespace, name)
	load := func(obj any) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return
		}
		leaf, err := store.Load(s.Data, time.Now())
		if err != nil {
			log.Error("serving certificate not taken; the current one stays", "secret", namespace+"/"+name, "resourceVersion", s.ResourceVersion, "error", err)
			return
		}
		log.Info("serving certificate loaded", "secret", namespace+"/"+name, "resourceVersion", s.ResourceVersion, "dnsNames", leaf.DNSNames, "notAfter", leaf.NotAfter.UTC())
	}
	if _, err := f.Core().V1().Secrets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    load,
		UpdateFunc: func(_, obj any) { load(obj) },
		DeleteFunc: func(any) {
			log.Warn("serving certificate Secret deleted; serving the last certificate until it is back", "secret", namespace+"/"+name)
		},
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	return nil
}

// Namespaces finds a namespace's annotations: in the informer's cache, or, for a namespace
// made a moment ago that the cache has not seen yet, from the apiserver.
type Namespaces struct {
	Lister corelisters.NamespaceLister
	// Client, if set, is asked for namespaces the cache lacks.
	Client kubernetes.Interface
}

// NewNamespaces starts an informer on every namespace and returns the lookup, and a function
// saying whether the informer has synced.
func NewNamespaces(ctx context.Context, client kubernetes.Interface) (*Namespaces, func() bool) {
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Namespaces()
	synced := inf.Informer().HasSynced
	f.Start(ctx.Done())
	return &Namespaces{Lister: inf.Lister(), Client: client}, synced
}

// Annotations returns the annotations of the namespace name.
//
// A namespace the cache holds without the inject annotation is asked of the apiserver too:
// it may have gained it a moment ago (a namespace made bare, by a link controller's
// --create-missing-namespaces, then annotated by kubectl apply, with a Deployment in the same
// apply), and a pod admitted on the cache's stale word would run without a proxy for good.
// Pods of namespaces outside the mesh cost one GET each at creation.
func (n *Namespaces) Annotations(ctx context.Context, name string) (map[string]string, error) {
	ns, err := n.Lister.Get(name)
	stale := err == nil && ns.Annotations[inject.AnnotationInject] == ""
	if (apierrors.IsNotFound(err) || stale) && n.Client != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		ns, err = n.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, err
	}
	return ns.Annotations, nil
}
