package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/inject/webhook"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
)

// injectorFlags are `controller injector`'s flags.
type injectorFlags struct {
	addr, adminAddr, kubeconfig      string
	trustDomain, proxyImage, version string
	namespace, certSecret, bundleMap string
	nativeSidecars, logLevel         string
	cpuRequest, memRequest, memLimit string
}

func parseInjectorFlags(args []string) (*injectorFlags, error) {
	def := inject.DefaultProxyResources()
	f := &injectorFlags{}
	fs := flag.NewFlagSet("injector", flag.ContinueOnError)
	fs.StringVar(&f.addr, "addr", fmt.Sprintf(":%d", webhook.Port), "address of the webhook's HTTPS listener")
	fs.StringVar(&f.adminAddr, "admin-addr", ":9990", "address of /metrics, /ready and /live")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig; in-cluster config when empty")
	fs.StringVar(&f.trustDomain, "trust-domain", "", "this cluster's trust domain, e.g. west.meshfed.local (required)")
	fs.StringVar(&f.proxyImage, "proxy-image", "", "the proxy's image, e.g. ghcr.io/meshfed/proxy:v0.1.0 (required)")
	fs.StringVar(&f.version, "version", "", "written to the annotation meshfed.io/injected (default: the proxy image's tag)")
	fs.StringVar(&f.namespace, "namespace", trust.Namespace, "namespace of the certificate Secret and the trust bundle ConfigMap")
	fs.StringVar(&f.certSecret, "cert-secret", webhook.CertSecretName, "kubernetes.io/tls Secret holding the serving certificate (cert-manager's Certificate "+webhook.Name+" writes it)")
	fs.StringVar(&f.bundleMap, "bundle-configmap", trust.BundleConfigMapName, "ConfigMap holding the trust bundle under "+trust.BundleKey)
	fs.StringVar(&f.nativeSidecars, "native-sidecars", "auto", "run the proxy as a native sidecar: auto (when the apiserver is 1.29 or later), true or false")
	fs.StringVar(&f.logLevel, "proxy-log-level", inject.DefaultLogLevel, "the proxies' log level unless a pod's annotation says otherwise: "+strings.Join(inject.LogLevels(), ", "))
	fs.StringVar(&f.cpuRequest, "proxy-cpu-request", quantity(def.Requests, corev1.ResourceCPU), "the proxies' CPU request unless a pod's annotation says otherwise")
	fs.StringVar(&f.memRequest, "proxy-memory-request", quantity(def.Requests, corev1.ResourceMemory), "the proxies' memory request unless a pod's annotation says otherwise")
	fs.StringVar(&f.memLimit, "proxy-memory-limit", quantity(def.Limits, corev1.ResourceMemory), "the proxies' memory limit unless a pod's annotation says otherwise")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("injector takes no arguments, got %q: flags go before them, as --name=value", strings.Join(fs.Args(), " "))
	}
	return f, nil
}

func quantity(l corev1.ResourceList, n corev1.ResourceName) string {
	q := l[n]
	return q.String()
}

// config makes the injection's config from the flags, but for the bundle and native
// sidecars, which come from the cluster.
func (f *injectorFlags) config() (inject.Config, error) {
	switch {
	case f.trustDomain == "":
		return inject.Config{}, errors.New("--trust-domain is required: the cluster's trust domain, as `mesh trust cluster` made it (<cluster>.meshfed.local by default)")
	case f.proxyImage == "":
		return inject.Config{}, errors.New("--proxy-image is required: the image of the proxy to inject, such as ghcr.io/meshfed/proxy:v0.1.0")
	}
	ref, err := name.ParseReference(f.proxyImage, name.StrictValidation)
	if err != nil {
		return inject.Config{}, fmt.Errorf("--proxy-image %q: %w", f.proxyImage, err)
	}
	version := f.version
	if version == "" {
		version = ref.Identifier()
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		list        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--proxy-cpu-request", f.cpuRequest, res.Requests, corev1.ResourceCPU},
		{"--proxy-memory-request", f.memRequest, res.Requests, corev1.ResourceMemory},
		{"--proxy-memory-limit", f.memLimit, res.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return inject.Config{}, fmt.Errorf("%s %q is not a quantity: write it as 100m or 64Mi", q.flag, q.value)
		}
		q.list[q.name] = v
	}
	cfg := inject.Config{
		ProxyImage: f.proxyImage, TrustDomain: f.trustDomain, Version: version,
		ProxyResources: res, LogLevel: f.logLevel,
	}
	if err := cfg.ValidateStatic(); err != nil {
		return inject.Config{}, fmt.Errorf("the flags: %w", err)
	}
	return cfg, nil
}

// native reads --native-sidecars, asking the apiserver its version for auto.
func (f *injectorFlags) native(kube kubernetes.Interface) (bool, error) {
	switch f.nativeSidecars {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "auto":
		v, err := kube.Discovery().ServerVersion()
		if err != nil {
			return false, fmt.Errorf("--native-sidecars=auto: asking the apiserver its version: %w (or set --native-sidecars=true or false)", err)
		}
		return webhook.NativeSidecarsSupported(v)
	}
	return false, fmt.Errorf("--native-sidecars %q: use auto, true or false", f.nativeSidecars)
}

// runInjector is `controller injector`: the admission webhook that adds the proxy to pods.
func runInjector(ctx context.Context, args []string) error {
	f, err := parseInjectorFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	rc, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if cfg.NativeSidecars, err = f.native(kube); err != nil {
		return err
	}

	certs, bundle := &webhook.CertStore{}, trustwatch.NewBundleStore(nil)
	if err := webhook.WatchCertSecret(ctx, log, kube, certs, f.namespace, f.certSecret); err != nil {
		return err
	}
	if err := trustwatch.WatchBundle(ctx, log, kube, bundle, f.namespace, f.bundleMap); err != nil {
		return err
	}
	namespaces, nsSynced := webhook.NewNamespaces(ctx, kube)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := webhook.NewMetrics(reg)
	if err != nil {
		return err
	}
	handler := webhook.NewHandler(webhook.Options{Config: cfg, Bundle: bundle, Namespaces: namespaces, Metrics: metrics, Log: log})

	ready := func() error {
		switch {
		case !certs.Loaded():
			return fmt.Errorf("no serving certificate yet from Secret %s/%s: check the cert-manager Certificate %s", f.namespace, f.certSecret, webhook.Name)
		case bundle.Get() == "":
			return fmt.Errorf("no trust bundle yet from ConfigMap %s/%s: apply `mesh trust cluster`", f.namespace, f.bundleMap)
		case !nsSynced():
			return errors.New("namespaces not listed yet")
		}
		return nil
	}
	defer serveAdmin(log, f.adminAddr, injectorAdminMux(reg, ready))()

	mux := http.NewServeMux()
	mux.Handle(webhook.Path, handler)
	srv := &http.Server{
		Addr: f.addr, Handler: mux, TLSConfig: certs.TLSConfig(),
		// The apiserver gives up after the webhook's timeoutSeconds (5) anyway.
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("serving", "addr", f.addr, "path", webhook.Path, "trustDomain", cfg.TrustDomain, "proxyImage", cfg.ProxyImage, "nativeSidecars", cfg.NativeSidecars)
	if err := srv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// injectorAdminMux serves the metrics, liveness, and readiness once ready says so.
func injectorAdminMux(reg *prometheus.Registry, ready func() error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/live", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "live") })
	return mux
}
