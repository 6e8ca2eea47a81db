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
	"strconv"
	"time"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/policy"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/discovery"
	"github.com/meshfed/meshfed/pkg/proxy/setup"
	"github.com/meshfed/meshfed/pkg/trust"
)

// runProxy is `proxy run`: the sidecar itself. It gets its certificate, then serves the
// outbound, inbound and admin listeners until SIGTERM, and drains.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trustDomain := fs.String("trust-domain", os.Getenv("MESHFED_TRUST_DOMAIN"), "the cluster's trust domain (env MESHFED_TRUST_DOMAIN)")
	namespace := fs.String("namespace", os.Getenv("POD_NAMESPACE"), "the pod's namespace (env POD_NAMESPACE)")
	serviceAccount := fs.String("service-account", os.Getenv("POD_SERVICE_ACCOUNT"), "the pod's ServiceAccount (env POD_SERVICE_ACCOUNT)")
	workload := fs.String("workload", os.Getenv("MESHFED_WORKLOAD"), "the pod's workload, for metrics (env MESHFED_WORKLOAD)")
	identityAddr := fs.String("identity-addr", "meshfed-identity.mesh-system.svc:8080", "the identity service")
	destinationAddr := fs.String("destination-addr", "meshfed-destination.mesh-system.svc:8086", "the destination service; empty to reach every destination directly")
	tokenFile := fs.String("token", "/var/run/secrets/meshfed.io/identity/token", "the projected ServiceAccount token, audience "+identityclient.Audience)
	bundleFile := fs.String("bundle", "/var/run/secrets/meshfed.io/trust/ca-bundle.crt", "the trust bundle (PEM); env MESHFED_TRUST_BUNDLE, when set, holds it instead")
	bundleCache := fs.String("bundle-cache", os.Getenv("MESHFED_TRUST_BUNDLE_CACHE"), "a file where the proxy keeps each trust bundle the identity service streams, and starts from after a restart; empty for none (env MESHFED_TRUST_BUNDLE_CACHE)")
	outboundAddr := fs.String("outbound-addr", fmt.Sprintf("127.0.0.1:%d", proxy.OutboundPort), "where the app's redirected outbound TCP arrives")
	inboundAddr := fs.String("inbound-addr", fmt.Sprintf(":%d", proxy.InboundPort), "where TCP redirected to the pod arrives")
	adminAddr := fs.String("admin-addr", fmt.Sprintf(":%d", proxy.AdminPort), "/ready, /live and /metrics")
	detectTimeout := fs.Duration("detect-timeout", time.Second, "how long a new connection may stay silent before it is carried as opaque TCP")
	drainTimeout := fs.Duration("drain-timeout", 20*time.Second, "on SIGTERM, how long open connections may take to finish")
	logLevel := fs.String("log-level", envOr("MESHFED_LOG_LEVEL", "info"), "debug, info, warn or error (env MESHFED_LOG_LEVEL)")
	cores := fs.Int("cores", envInt("MESHFED_PROXY_CORES", setup.DefaultCores), "how many cores the proxy runs on (GOMAXPROCS); 0 for the Go runtime's choice (env MESHFED_PROXY_CORES)")
	defaultPolicy := fs.String("default-policy", string(policy.AllUnauthenticated), "inbound policy of ports no Server selects: all-unauthenticated, all-authenticated or deny")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := setup.Cores(*cores); err != nil {
		return err
	}
	self := trust.ID{TrustDomain: *trustDomain, Namespace: *namespace, ServiceAccount: *serviceAccount}
	if err := self.Validate(); err != nil {
		return fmt.Errorf("--trust-domain, --namespace and --service-account make the proxy's identity: %w", err)
	}
	def, err := policy.ParseDefaultPolicy(*defaultPolicy)
	if err != nil {
		return fmt.Errorf("--default-policy: %w", err)
	}
	// The pod's labels and named ports, which Servers select it by, as the injector gives them.
	pod, err := proxy.PodFromEnv(os.Getenv("MESHFED_POD_LABELS"), os.Getenv("MESHFED_POD_PORTS"))
	if err != nil {
		return err
	}
	bundle, err := setup.Bundle(*bundleFile, *bundleCache)
	if err != nil {
		return err
	}
	log, err := setup.Logger(*logLevel, stderr)
	if err != nil {
		return err
	}
	manager, idConn, err := setup.Certs(self, bundle, *identityAddr, *tokenFile, *bundleCache, log)
	if err != nil {
		return err
	}
	defer idConn.Close()
	go manager.Run(ctx)

	// Until the destination service's first policy update the index is empty: the default
	// policy decides every port. With no destination service it stays so.
	empty, err := policy.Compile(*namespace, *trustDomain, policy.Objects{})
	if err != nil {
		return err
	}
	authorizer := proxy.NewPolicyAuthorizer(pod, def, empty)
	reg := setup.Registry()
	reg.MustRegister(manager.Collector())
	var resolver proxy.Resolver = proxy.StaticResolver{}
	if *destinationAddr != "" {
		destClient, destConn, err := setup.Destination(*destinationAddr, manager)
		if err != nil {
			return err
		}
		defer destConn.Close()
		followed := discovery.New(ctx, destClient, *namespace, self, log)
		reg.MustRegister(followed)
		resolver = followed
		go discovery.FollowPolicy(ctx, destClient, self, authorizer, log)
	}
	p, err := proxy.New(proxy.Config{
		Certs: manager, Resolver: resolver, Log: log, Metrics: reg, Workload: *workload,
		Policy:        authorizer,
		DetectTimeout: *detectTimeout,
	})
	if err != nil {
		return err
	}

	admin := &http.Server{Addr: *adminAddr, Handler: p.AdminHandler(reg), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener", "error", err)
		}
	}()
	defer admin.Close()
	out, err := net.Listen("tcp", *outboundAddr)
	if err != nil {
		return err
	}
	in, err := net.Listen("tcp", *inboundAddr)
	if err != nil {
		out.Close()
		return err
	}
	go p.ServeOutbound(ctx, out)
	go p.ServeInbound(ctx, in)
	log.Info("proxy started", "identity", self.String(), "outbound", out.Addr().String(), "inbound", in.Addr().String(), "admin", *adminAddr)

	<-ctx.Done()
	log.Info("draining", "timeout", *drainTimeout)
	out.Close()
	in.Close()
	dctx, cancel := context.WithTimeout(context.Background(), *drainTimeout)
	defer cancel()
	p.Drain(dctx)
	fmt.Fprintln(stdout, "proxy stopped")
	return nil
}

// envOr is the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envInt is the environment variable key as an integer, or def when it is unset or not one.
func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}
