// Command gateway is the east-west gateway: other clusters' proxies reach this cluster's
// meshed Services through it (package gateway). This file is wiring only: flags, the
// certificate, the destination client, the listeners, and a drain on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/membership"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/discovery"
	"github.com/meshfed/meshfed/pkg/proxy/setup"
	"github.com/meshfed/meshfed/pkg/trust"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// listFlag is a flag given any number of times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options are the gateway's flags.
type options struct {
	trustDomain, namespace, serviceAccount string
	identityAddr, destinationAddr          string
	tokenFile, bundleFile, bundleConfigMap string
	listenAddr, adminAddr, probeAddr       string
	clusterDomain                          string
	allowClusters                          listFlag
	clusterName, gatewayService            string
	logLevel                               string
	drainTimeout                           time.Duration

	self  trust.ID
	allow gateway.AllowList
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.trustDomain, "trust-domain", os.Getenv("MESHFED_TRUST_DOMAIN"), "the cluster's trust domain (env MESHFED_TRUST_DOMAIN)")
	fs.StringVar(&o.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the pod's namespace (env POD_NAMESPACE)")
	fs.StringVar(&o.serviceAccount, "service-account", os.Getenv("POD_SERVICE_ACCOUNT"), "the pod's ServiceAccount (env POD_SERVICE_ACCOUNT)")
	fs.StringVar(&o.identityAddr, "identity-addr", "meshfed-identity.mesh-system.svc:8080", "the identity service")
	fs.StringVar(&o.destinationAddr, "destination-addr", "meshfed-destination.mesh-system.svc:8086", "the destination service, which resolves the Services callers ask for")
	fs.StringVar(&o.tokenFile, "token", "/var/run/secrets/meshfed.io/identity/token", "the projected ServiceAccount token for the identity service")
	fs.StringVar(&o.bundleFile, "bundle", "/var/run/secrets/meshfed.io/trust/ca-bundle.crt", "the trust bundle (PEM); env "+setup.BundleEnv+", when set, holds it instead")
	fs.StringVar(&o.bundleConfigMap, "bundle-configmap", "", "read the trust bundle from this ConfigMap, namespace/name, through the API, and follow its changes (instead of --bundle)")
	fs.StringVar(&o.probeAddr, "probe-addr", "", "where other clusters' Links probe the gateway: GET /ready only (empty: no probe listener)")
	fs.StringVar(&o.listenAddr, "listen-addr", fmt.Sprintf(":%d", gateway.Port), "where other clusters' proxies connect")
	fs.StringVar(&o.adminAddr, "admin-addr", fmt.Sprintf(":%d", proxy.AdminPort), "/ready, /live and /metrics")
	fs.StringVar(&o.clusterDomain, "cluster-domain", gateway.DefaultClusterDomain, "the DNS domain of this cluster's Services, as callers name them")
	fs.StringVar(&o.clusterName, "cluster-name", os.Getenv("MESHFED_CLUSTER_NAME"), "this cluster's name, which the gateway's member of the gossip pool carries; empty: no gossip (env MESHFED_CLUSTER_NAME)")
	fs.StringVar(&o.gatewayService, "gateway-service", "mesh-gateway", "the gateway's Service in its namespace, whose LoadBalancer address the gossip member advertises")
	fs.Var(&o.allowClusters, "allow-cluster", "a remote cluster that may call: NAME (trust domain NAME.meshfed.local) or NAME=TRUSTDOMAIN; repeat for each")
	fs.StringVar(&o.logLevel, "log-level", envOr("MESHFED_LOG_LEVEL", "info"), "debug, info, warn or error (env MESHFED_LOG_LEVEL)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long open tunnels may take to finish")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, o.validate()
}

func (o *options) validate() error {
	o.self = trust.ID{TrustDomain: o.trustDomain, Namespace: o.namespace, ServiceAccount: o.serviceAccount}
	if err := o.self.Validate(); err != nil {
		return fmt.Errorf("--trust-domain, --namespace and --service-account make the gateway's identity: %w", err)
	}
	// With no --allow-cluster the gateway refuses every caller: a cluster that only mirrors
	// others still runs one, to answer probes, until another cluster is allowed in.
	var err error
	if o.allow, err = gateway.ParseAllowList(o.allowClusters); err != nil {
		return fmt.Errorf("--allow-cluster: %w", err)
	}
	if o.destinationAddr == "" {
		return errors.New("--destination-addr: the gateway needs the destination service to find Services")
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := setup.Logger(o.logLevel, stderr)
	if err != nil {
		return err
	}
	// The first bundle only: after it, the identity service streams each change (setup.Certs).
	var bundle *trust.Bundle
	if o.bundleConfigMap != "" {
		fromConfigMap, err := newConfigMapBundle(o.bundleConfigMap)
		if err != nil {
			return err
		}
		bundle, err = fromConfigMap.read(ctx)
	} else {
		bundle, err = setup.Bundle(o.bundleFile, "")
	}
	if err != nil {
		return err
	}
	manager, idConn, err := setup.Certs(o.self, bundle, o.identityAddr, o.tokenFile, "", log)
	if err != nil {
		return err
	}
	defer idConn.Close()
	go manager.Run(ctx)
	destClient, destConn, err := setup.Destination(o.destinationAddr, manager)
	if err != nil {
		return err
	}
	defer destConn.Close()
	reg := setup.Registry()
	reg.MustRegister(manager.Collector())
	g, err := gateway.New(gateway.Config{
		Certs: manager, Resolver: discovery.New(ctx, destClient, o.namespace, o.self, log), Log: log, Metrics: reg,
		Allowed: o.allow.Allowed, ClusterOf: o.allow.ClusterOf, ClusterDomain: o.clusterDomain,
	})
	if err != nil {
		return err
	}
	adminMux := http.NewServeMux()
	adminMux.Handle("/", g.AdminHandler(reg))
	if o.clusterName != "" {
		gs, err := newGossip(o, log)
		if err != nil {
			return err
		}
		go gs.run(ctx, manager, reg)
		adminMux.Handle("GET /members", membership.Handler(gs.current))
	}
	admin := &http.Server{Addr: o.adminAddr, Handler: adminMux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener", "error", err)
		}
	}()
	defer admin.Close()
	if o.probeAddr != "" {
		// Other clusters reach this port: it answers their probe and shows nothing else.
		probes := http.NewServeMux()
		probes.Handle("GET /ready", g.AdminHandler(reg))
		probe := &http.Server{Addr: o.probeAddr, Handler: probes, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := probe.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("probe listener", "error", err)
			}
		}()
		defer probe.Close()
	}
	lis, err := net.Listen("tcp", o.listenAddr)
	if err != nil {
		return err
	}
	go g.Serve(ctx, lis)
	log.Info("gateway started", "identity", o.self.String(), "listen", lis.Addr().String(), "admin", o.adminAddr, "allow", o.allowClusters.String())

	<-ctx.Done()
	log.Info("draining", "timeout", o.drainTimeout)
	lis.Close()
	dctx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
	defer cancel()
	g.Drain(dctx)
	fmt.Fprintln(stdout, "gateway stopped")
	return nil
}

// envOr is the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
