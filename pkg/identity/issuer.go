package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
)

// Issuer is the cluster's signing certificate as the service uses it: the CA and the bundle
// its chain was checked against.
type Issuer struct {
	CA     *trust.CA
	Bundle *trust.Bundle
}

// IssuerStore holds the current issuer. Requests read it once each, so a reload never lands
// in the middle of one.
type IssuerStore struct {
	current atomic.Pointer[Issuer]
	// changed is told of each issuer taken, for metrics and the serving certificate.
	changed func(*Issuer)
}

// NewIssuerStore returns a store with no issuer yet; changed, if set, is called with every
// issuer the store takes.
func NewIssuerStore(changed func(*Issuer)) *IssuerStore {
	return &IssuerStore{changed: changed}
}

// Current returns the issuer, or nil before the first one is loaded.
func (s *IssuerStore) Current() *Issuer { return s.current.Load() }

// Load checks an issuer Secret's data and, if sound, makes it the current issuer. A Secret
// that is not sound leaves the current issuer in place: leaves go on being signed by the old
// one, which still verifies, rather than not at all.
func (s *IssuerStore) Load(data map[string][]byte, now time.Time) (*Issuer, error) {
	iss, err := ParseIssuer(data, now)
	if err != nil {
		return nil, err
	}
	if cur := s.current.Load(); cur != nil && cur.CA.Cert.Equal(iss.CA.Cert) && equalBundles(cur.Bundle, iss.Bundle) {
		return cur, nil
	}
	s.current.Store(iss)
	if s.changed != nil {
		s.changed(iss)
	}
	return iss, nil
}

// ParseIssuer reads an issuer from the data of a kubernetes.io/tls Secret as cert-manager
// writes it: tls.crt (the issuer, then any chain), tls.key, and ca.crt (the trust anchors).
// The issuer must be a CA, match its key, be valid now and chain to an anchor of ca.crt.
func ParseIssuer(data map[string][]byte, now time.Time) (*Issuer, error) {
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, corev1.ServiceAccountRootCAKey} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("issuer Secret has no %s: it must hold tls.crt, tls.key and ca.crt (cert-manager writes all three)", k)
		}
	}
	ca, err := trust.LoadCA(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("issuer Secret: %w", err)
	}
	bundle, err := trust.ParseBundle(data[corev1.ServiceAccountRootCAKey])
	if err != nil {
		return nil, fmt.Errorf("issuer Secret ca.crt: %w", err)
	}
	if now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("issuer expired at %s: renew it (cert-manager does so before renewBefore)", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, err := bundle.VerifyIssuer(ca.Cert, ca.Chain, now); err != nil {
		return nil, fmt.Errorf("issuer Secret: tls.crt does not chain to the anchors in ca.crt: %w", err)
	}
	return &Issuer{CA: ca, Bundle: bundle}, nil
}

func equalBundles(a, b *trust.Bundle) bool {
	x, y := a.Anchors(), b.Anchors()
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !x[i].Equal(y[i]) {
			return false
		}
	}
	return true
}

// WatchIssuerSecret keeps store equal to the Secret namespace/name until ctx ends. It reads
// that one Secret only (a field selector, so RBAC may name it), and returns once the first
// sound issuer is loaded or ctx ends.
func WatchIssuerSecret(ctx context.Context, log *slog.Logger, client kubernetes.Interface, store *IssuerStore, namespace, name string) error {
	factory := trustwatch.NamedFactory(client, namespace, name)
	informer := factory.Core().V1().Secrets().Informer()
	loaded := make(chan struct{})
	var once atomic.Bool
	load := func(obj any) {
		secret, ok := obj.(*corev1.Secret)
		if !ok {
			return
		}
		iss, err := store.Load(secret.Data, time.Now())
		if err != nil {
			log.Error("issuer Secret not taken; the current issuer stays", "secret", namespace+"/"+name, "resourceVersion", secret.ResourceVersion, "error", err)
			return
		}
		log.Info("issuer loaded", "secret", namespace+"/"+name, "resourceVersion", secret.ResourceVersion,
			"subject", iss.CA.Cert.Subject.String(), "notAfter", iss.CA.Cert.NotAfter.UTC())
		if once.CompareAndSwap(false, true) {
			close(loaded)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    load,
		UpdateFunc: func(_, obj any) { load(obj) },
		DeleteFunc: func(any) {
			log.Warn("issuer Secret deleted; signing with the last issuer until it is back", "secret", namespace+"/"+name)
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return errors.New("no sound issuer in Secret " + namespace + "/" + name + " (see the log for why): with cert-manager, check the Certificate meshfed-identity-issuer; without, apply `mesh trust cluster`")
	}
}
