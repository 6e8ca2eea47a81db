package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/membership"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// gossipPort is where every gateway's member of the gossip pool listens and is reached: the
// gateway Service's port named gossip.
const gossipPort = 7946

// linksResource is the Link API, read as unstructured: the gateway needs two fields of it.
var linksResource = schema.GroupVersionResource{Group: "multicluster.meshfed.io", Version: "v1alpha1", Resource: "links"}

// gossip is the gateway's place in the federation's gossip pool: it advertises the gateway
// Service's LoadBalancer address, admits the gateways of the clusters it allows or links
// to, and joins the gateways its cluster's Links name. Members answers the link controller.
type gossip struct {
	cluster, namespace, service string
	self                        trust.ID
	allow                       gateway.AllowList
	kube                        kubernetes.Interface
	links                       dynamic.Interface
	log                         *slog.Logger

	mu      sync.Mutex
	member  *membership.Member
	linked  map[string]bool // trust domains of the gateways the Links name
	targets map[string][]netip.AddrPort
}

// allowed admits a peer that is a gateway (this gateway's namespace and ServiceAccount) of
// this cluster, of a cluster on the allow list, or of a cluster a Link here names.
func (g *gossip) allowed(id trust.ID) error {
	if id.Namespace != g.self.Namespace || id.ServiceAccount != g.self.ServiceAccount {
		return fmt.Errorf("%s is not a gateway (%s/%s)", id, g.self.Namespace, g.self.ServiceAccount)
	}
	if id.TrustDomain == g.self.TrustDomain || g.allow.Allowed(id) == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.linked[id.TrustDomain] {
		return nil
	}
	return fmt.Errorf("%s is the gateway of a cluster neither allowed nor linked", id)
}

// run starts the member once the leaf and the Service's address are there, then keeps it
// joined to the Links' gateways until ctx ends. Without gossip the gateway serves on, and
// the Links' probes still judge it.
func (g *gossip) run(ctx context.Context, manager *certs.Manager, reg prometheus.Registerer) {
	select {
	case <-ctx.Done():
		return
	case <-manager.Ready():
	}
	advertise, err := g.advertise(ctx)
	if err != nil {
		g.log.Warn("gossip off: no address to advertise", "error", err)
		return
	}
	host, _ := os.Hostname()
	m, err := membership.New(ctx, membership.Config{
		Cluster:       g.cluster,
		Name:          g.cluster + "-" + host,
		BindAddr:      netip.AddrPortFrom(netip.IPv4Unspecified(), gossipPort),
		AdvertiseAddr: advertise,
		Credentials:   membership.Credentials{Certificate: manager.Certificate, Bundle: manager.Bundle},
		Allowed:       g.allowed,
		Logger:        g.log.With("component", "gossip"),
		Registerer:    reg,
	})
	if err != nil {
		g.log.Error("gossip off", "error", err)
		return
	}
	g.mu.Lock()
	g.member = m
	g.mu.Unlock()
	defer m.Shutdown()
	g.log.Info("gossip started", "member", m.Name(), "advertise", advertise.String())
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		g.joinLinked(ctx, m)
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			m.Leave(lctx)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// advertise waits for the gateway Service's LoadBalancer address.
func (g *gossip) advertise(ctx context.Context) (netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		svc, err := g.kube.CoreV1().Services(g.namespace).Get(ctx, g.service, metav1.GetOptions{})
		if err == nil {
			for _, in := range svc.Status.LoadBalancer.Ingress {
				if ip, err := netip.ParseAddr(in.IP); err == nil {
					return netip.AddrPortFrom(ip, gossipPort), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return netip.AddrPort{}, fmt.Errorf("the Service %s/%s has no LoadBalancer IP (last error: %v)", g.namespace, g.service, err)
		case <-time.After(2 * time.Second):
		}
	}
}

// joinLinked reads the Links and joins the gateways of every linked cluster not alive in
// the pool.
func (g *gossip) joinLinked(ctx context.Context, m *membership.Member) {
	l, err := g.links.Resource(linksResource).Namespace(g.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		g.log.Warn("reading the Links", "error", err)
		return
	}
	linked := map[string]bool{}
	targets := map[string][]netip.AddrPort{}
	for _, u := range l.Items {
		cluster, _, _ := unstructured.NestedString(u.Object, "spec", "targetClusterName")
		if idStr, ok, _ := unstructured.NestedString(u.Object, "spec", "gatewayIdentity"); ok {
			if id, err := trust.ParseID(idStr); err == nil {
				linked[id.TrustDomain] = true
			}
		}
		addrs, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "gatewayAddresses")
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err == nil {
				targets[cluster] = append(targets[cluster], netip.AddrPortFrom(ip, gossipPort))
			}
		}
	}
	g.mu.Lock()
	g.linked, g.targets = linked, targets
	g.mu.Unlock()
	for cluster, addrs := range targets {
		if m.ClusterAlive(cluster) {
			continue
		}
		jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := m.Join(jctx, addrs)
		cancel()
		if err != nil && n == 0 {
			g.log.Debug("joining a linked cluster's gateway", "cluster", cluster, "error", err)
		}
	}
}

// current is the running member, nil before it started.
func (g *gossip) current() *membership.Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.member
}

func newGossip(o *options, log *slog.Logger) (*gossip, error) {
	if err := trust.ValidateClusterName(o.clusterName); err != nil {
		return nil, fmt.Errorf("--cluster-name: %w", err)
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("--cluster-name turns gossip on, which reads the gateway's Service and the Links: run in a pod: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	links, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &gossip{cluster: o.clusterName, namespace: o.namespace, service: o.gatewayService, self: o.self, allow: o.allow,
		kube: kube, links: links, log: log}, nil
}
