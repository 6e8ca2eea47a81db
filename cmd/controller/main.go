// Command controller runs one of the control plane's servers, named by its first argument:
// identity, destination or injector. One binary, one image, one Deployment per server.
//
// None of them elects a leader: each answers requests from what it reads (a TokenReview,
// its informers, the pod in the AdmissionReview) and writes nothing to the cluster, so every
// replica serves at once and mesh install --ha simply runs three. The link controller,
// which does write, is leader elected (cmd/link).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/trustwatch"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The servers idle far more than they work; their heaps need not double between
		// collections. GOGC in the environment still wins.
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

const usage = `usage: controller SERVER [flags]

SERVER is one of:
  identity      signs workload certificates for ServiceAccount tokens (gRPC :8080)
  destination   tells proxies the endpoints of what they connect to (gRPC :8086)
  injector      the admission webhook that adds the proxy to pods (HTTPS :8443)

Run "controller SERVER -h" for its flags.`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "identity":
		return runIdentity(ctx, args[1:])
	case "injector":
		return runInjector(ctx, args[1:])
	case "destination":
		return runDestination(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	default:
		return fmt.Errorf("unknown server %q\n%s", args[0], usage)
	}
}

// identityServiceAccount is the identity service's ServiceAccount, which names its serving
// certificate: the destination service, as every proxy, expects it there.
const identityServiceAccount = "meshfed-identity"

func runIdentity(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("identity", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address of the gRPC listener")
	adminAddr := fs.String("admin-addr", ":9990", "address of /metrics and /ready")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig; in-cluster config when empty")
	trustDomain := fs.String("trust-domain", "", "this cluster's trust domain, e.g. west.meshfed.local (required)")
	namespace := fs.String("namespace", "mesh-system", "namespace of the issuer Secret, and this service's own")
	issuerSecret := fs.String("issuer-secret", "meshfed-identity-issuer", "Secret holding the issuer (tls.crt, tls.key, ca.crt)")
	bundleConfigMap := fs.String("bundle-configmap", trust.BundleConfigMapName, "ConfigMap holding the trust bundle under "+trust.BundleKey+", streamed to proxies as it changes")
	serviceAccount := fs.String("service-account", identityServiceAccount, "this service's ServiceAccount, which names its own certificate")
	leafTTL := fs.Duration("leaf-ttl", identity.DefaultLeafTTL, "life of the leaves signed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trustDomain == "" {
		return errors.New("--trust-domain is required: the cluster's trust domain, as `mesh trust cluster` made it (<cluster>.meshfed.local by default)")
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	self := trust.ID{TrustDomain: *trustDomain, Namespace: *namespace, ServiceAccount: *serviceAccount}
	if err := self.Validate(); err != nil {
		return fmt.Errorf("--trust-domain, --namespace or --service-account: %w", err)
	}

	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	trustState := identity.NewTrustState()
	issuers := identity.NewIssuerStore(func(iss *identity.Issuer) { trustState.SetIssuer(iss.CA.Cert) })
	serving := identity.NewServingCertificate(self, issuers, nil)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := identity.NewMetrics(reg, issuers.Current)
	if err != nil {
		return err
	}
	server, err := identity.NewServer(identity.Options{
		TrustDomain: *trustDomain, LeafTTL: *leafTTL, Issuers: issuers,
		Tokens: identity.KubeTokenReviewer{Client: kube}, Metrics: metrics, Trust: trustState, Log: log,
	})
	if err != nil {
		return err
	}

	defer serveAdmin(log, *adminAddr, adminMux(reg, issuers))()

	// Streams wait for the bundle; Certify does not need it.
	bundles := trustwatch.NewBundleStore(trustState.SetBundle)
	if err := trustwatch.WatchBundle(ctx, log, kube, bundles, *namespace, *bundleConfigMap); err != nil {
		return err
	}
	log.Info("waiting for the issuer", "secret", *namespace+"/"+*issuerSecret)
	if err := identity.WatchIssuerSecret(ctx, log, kube, issuers, *namespace, *issuerSecret); err != nil {
		return err
	}

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(serving.TLSConfig())), grpc.MaxRecvMsgSize(64<<10))
	identityv1.RegisterIdentityServer(g, server)
	go func() {
		<-ctx.Done()
		g.GracefulStop()
	}()
	log.Info("serving", "addr", lis.Addr().String(), "identity", self.String(), "trustDomain", *trustDomain)
	return g.Serve(lis)
}

// adminMux serves the metrics, and readiness once an issuer is loaded.
func adminMux(reg *prometheus.Registry, issuers *identity.IssuerStore) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if issuers.Current() == nil {
			http.Error(w, "no issuer loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/live", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "live") })
	return mux
}

// serveAdmin serves a server's admin endpoints (metrics, readiness) at addr in the background,
// and returns what stops it.
func serveAdmin(log *slog.Logger, addr string, h http.Handler) (stop func()) {
	admin := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "error", err)
		}
	}()
	return func() { admin.Close() }
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	c, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("not in a cluster: pass --kubeconfig (%w)", err)
	}
	return c, nil
}
