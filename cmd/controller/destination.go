package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/destination"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// runDestination serves the Destination API: informers over the cluster's Services,
// EndpointSlices and Pods, mTLS with a workload leaf of its own that it asks the identity
// service for as a proxy does (it never reads the issuer), proxies' leaves checked against
// the trust bundle ConfigMap, mounted as a file.
func runDestination(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("destination", flag.ContinueOnError)
	addr := fs.String("addr", fmt.Sprintf(":%d", destination.Port), "address of the gRPC listener")
	adminAddr := fs.String("admin-addr", ":9996", "address of /metrics, /ready and /live")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig; in-cluster config when empty")
	trustDomain := fs.String("trust-domain", "", "this cluster's trust domain, e.g. west.meshfed.local (required)")
	clusterDomain := fs.String("cluster-domain", destination.DefaultClusterDomain, "the cluster's DNS domain, as authorities name Services: <svc>.<ns>.svc.<cluster-domain>")
	namespace := fs.String("namespace", trust.Namespace, "this service's namespace, which names its own certificate")
	identityAddr := fs.String("identity-addr", "meshfed-identity."+trust.Namespace+".svc:8080", "the identity service, which signs this service's leaf")
	tokenFile := fs.String("token", "/var/run/secrets/meshfed.io/identity/token", "the projected ServiceAccount token, audience "+identityclient.Audience)
	bundleFile := fs.String("bundle", "/var/run/secrets/meshfed.io/trust/"+trust.BundleKey, "the trust bundle (PEM), the ConfigMap "+trust.BundleConfigMapName+" mounted; read again as it changes")
	serviceAccount := fs.String("service-account", destination.ServiceAccount, "this service's ServiceAccount, which names its own certificate (proxies expect "+destination.ServiceAccount+")")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	pprof := fs.Bool("pprof", false, "serve Go's profiles on the admin address, under /debug/pprof/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trustDomain == "" {
		return errors.New("--trust-domain is required: the cluster's trust domain, as `mesh trust cluster` made it (<cluster>.meshfed.local by default)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: give debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	self := trust.ID{TrustDomain: *trustDomain, Namespace: *namespace, ServiceAccount: *serviceAccount}
	if err := self.Validate(); err != nil {
		return fmt.Errorf("--trust-domain, --namespace or --service-account: %w", err)
	}

	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	// Informers list every pod of the cluster at start: more than client-go's default 5 QPS
	// is not needed, but a burst keeps a restart short.
	cfg.QPS, cfg.Burst = 20, 40
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := destination.NewMetrics(reg)
	if err != nil {
		return err
	}
	server, err := destination.New(destination.Options{
		Client: kube, Dynamic: dyn, TrustDomain: *trustDomain, ClusterDomain: *clusterDomain, Metrics: metrics, Log: log,
	})
	if err != nil {
		return fmt.Errorf("--trust-domain or --cluster-domain: %w", err)
	}
	// The identity service's own leaf is checked as a proxy checks it: its identity, in the
	// bundle current at each handshake.
	idServer := trust.ID{TrustDomain: *trustDomain, Namespace: *namespace, ServiceAccount: identityServiceAccount}
	var leaves *certs.Manager // made below, with the client this connection makes
	idConn, err := identityclient.DialFunc(*identityAddr, func() *trust.Bundle { return leaves.Bundle() }, idServer)
	if err != nil {
		return fmt.Errorf("--identity-addr: %w", err)
	}
	defer idConn.Close()
	leaves = certs.NewManager(self, nil, certs.CertifierFunc(identityclient.RequestWithTokenFile(identityv1.NewIdentityClient(idConn), self, *tokenFile, 10*time.Second)), log)

	defer serveAdmin(log, *adminAddr, destinationAdminMux(reg, server, leaves, *pprof))()

	leaves.TrustFrom(identityv1.NewIdentityClient(idConn), nil)
	reg.MustRegister(leaves.Collector())
	// The mounted bundle only until the first one: it is what the identity service is checked
	// against. After that the identity service's stream (leaves.Run follows it) is current
	// sooner than the kubelet's copy, and two followers could undo each other's change.
	log.Info("waiting for the trust bundle", "file", *bundleFile)
	first := make(chan struct{})
	var once sync.Once
	fileCtx, stopFile := context.WithCancel(ctx)
	defer stopFile()
	go destination.FollowBundleFile(fileCtx, log, *bundleFile, 10*time.Second, func(b *trust.Bundle) {
		once.Do(func() {
			leaves.SetBundle(b)
			close(first)
			stopFile()
		})
	})
	select {
	case <-first:
	case <-ctx.Done():
		return nil
	}
	go leaves.Run(ctx)
	log.Info("filling the caches of policy objects, Services, EndpointSlices and Pods")
	if err := server.Start(ctx); err != nil {
		return err
	}
	log.Info("waiting for this service's leaf from the identity service", "identity", self.String(), "identityAddr", *identityAddr)
	select {
	case <-leaves.Ready():
	case <-ctx.Done():
		return nil
	}

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	tlsConfig := destination.TLSConfig(leaves, *trustDomain, nil)
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConfig)), grpc.MaxRecvMsgSize(16<<10),
		// Every proxy holds a stream open, mostly idle: small per-connection buffers, the
		// write buffer given back between writes, keep a few hundred proxies cheap.
		grpc.ReadBufferSize(4<<10), grpc.SharedWriteBuffer(true),
		// Streams live as long as proxies route somewhere: find dead peers, and let proxies
		// ping as often as every 10s.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	destinationv1.RegisterDestinationServer(g, server)
	go func() {
		<-ctx.Done()
		// Streams never end by themselves: a graceful stop would wait for every proxy to
		// hang up. Proxies reconnect, keeping what they knew meanwhile.
		g.Stop()
	}()
	log.Info("serving", "addr", lis.Addr().String(), "identity", self.String(), "trustDomain", *trustDomain, "clusterDomain", *clusterDomain)
	return g.Serve(lis)
}

// destinationAdminMux serves the metrics, and readiness once the service holds its first
// leaf and the caches are filled; Go's profiles when asked.
func destinationAdminMux(reg *prometheus.Registry, server *destination.Server, leaves *certs.Manager, pprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case leaves.Bundle() == nil:
			http.Error(w, "no trust bundle loaded", http.StatusServiceUnavailable)
		case leaves.Leaf() == nil:
			http.Error(w, "no leaf from the identity service yet", http.StatusServiceUnavailable)
		case !server.Ready():
			http.Error(w, "caches not filled", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.HandleFunc("/live", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "live") })
	return mux
}
