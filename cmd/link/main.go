// Command link is the link controller: one per cluster, leader elected, it mirrors here the
// Services that linked clusters export. The logic is in package pkg/mirror.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/meshfed/meshfed/pkg/mirror"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "link:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("link", flag.ContinueOnError)
	namespace := fs.String("namespace", "mesh-multicluster", "namespace of the Links and their credentials Secrets")
	leaderElect := fs.Bool("leader-elect", false, "elect a leader among the replicas; only it reconciles")
	metricsAddr := fs.String("metrics-bind-address", ":9990", "address of the Prometheus metrics endpoint; 0 to disable")
	probeAddr := fs.String("health-probe-bind-address", ":9991", "address of /healthz and /readyz")
	workers := fs.Int("workers", 8, "remote Services reconciled at once")
	clusterName := fs.String("cluster-name", "", "this cluster's name in its clusterset, where no ClusterProperty cluster.clusterset.k8s.io says it (mesh install writes one)")
	membersURL := fs.String("gateway-members-url", "http://mesh-gateway-admin.mesh-multicluster.svc:4191/members", "the local gateway's view of the gateways' gossip pool, which says in about a second that a linked cluster's gateway died; empty: the Links' probes alone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// The controller idles far more than it works; its heap need not double between
		// collections. GOGC in the environment still wins.
		debug.SetGCPercent(50)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	scheme, err := mirror.Scheme()
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   mirror.CacheOptions(*namespace),
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "link-controller.multicluster.meshfed.io",
		LeaderElectionNamespace: *namespace,
		// A successor takes over as soon as this one is gone, not after the lease expires.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	opts := mirror.Options{Workers: *workers, ClusterName: *clusterName}
	if *membersURL != "" {
		opts.GatewayMembers = mirror.FetchGatewayMembers(*membersURL)
	}
	if err := mirror.Setup(mgr, log, opts); err != nil {
		return err
	}
	log.Info("starting", "namespace", *namespace, "leaderElect", *leaderElect)
	return mgr.Start(ctrl.SetupSignalHandler())
}
