package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshfed/meshfed/pkg/trust"
)

// configMapBundle reads the trust bundle from a ConfigMap "namespace/name" through the API:
// the gateway runs outside the namespace whose ConfigMap holds it, where no volume can reach.
type configMapBundle struct {
	client          kubernetes.Interface
	namespace, name string
}

func newConfigMapBundle(ref string) (*configMapBundle, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--bundle-configmap %q: give namespace/name, such as mesh-system/%s", ref, trust.BundleConfigMapName)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("--bundle-configmap needs to run in a pod: %w", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &configMapBundle{client: c, namespace: ns, name: name}, nil
}

func (b *configMapBundle) read(ctx context.Context) (*trust.Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cm, err := b.client.CoreV1().ConfigMaps(b.namespace).Get(ctx, b.name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the trust bundle ConfigMap %s/%s: %w", b.namespace, b.name, err)
	}
	bundle, err := trust.ParseBundle([]byte(cm.Data[trust.BundleKey]))
	if err != nil {
		return nil, fmt.Errorf("the trust bundle ConfigMap %s/%s, key %s: %w", b.namespace, b.name, trust.BundleKey, err)
	}
	return bundle, nil
}
