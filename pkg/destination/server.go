package destination

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Options configure a Server.
type Options struct {
	// Client reads Services, EndpointSlices and Pods in every namespace.
	Client kubernetes.Interface
	// Dynamic reads the policy objects of policy.meshfed.io in every namespace.
	Dynamic dynamic.Interface
	// TrustDomain is this cluster's: endpoints' identities are in it.
	TrustDomain string
	// ClusterDomain is the cluster's DNS domain; DefaultClusterDomain when empty.
	ClusterDomain string
	// Metrics, if set, are kept.
	Metrics *Metrics
	Log     *slog.Logger
}

// Server is the destination gRPC service.
type Server struct {
	destinationv1.UnimplementedDestinationServer
	opts Options
	x    *index
	p    *policyWatch
}

var _ destinationv1.DestinationServer = (*Server)(nil)

// New checks opts and returns the service; Start starts its informers.
func New(opts Options) (*Server, error) {
	if opts.Client == nil || opts.Dynamic == nil || opts.Log == nil {
		return nil, errors.New("destination server needs a Kubernetes client, a dynamic client and a logger")
	}
	if err := trust.ValidateTrustDomain(opts.TrustDomain); err != nil {
		return nil, err
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = DefaultClusterDomain
	}
	opts.ClusterDomain = strings.TrimRight(strings.ToLower(opts.ClusterDomain), ".")
	if errs := validation.IsDNS1123Subdomain(opts.ClusterDomain); len(errs) > 0 {
		return nil, fmt.Errorf("cluster domain %q is not a DNS name (%s): give the cluster's DNS domain, %s by default", opts.ClusterDomain, strings.Join(errs, "; "), DefaultClusterDomain)
	}
	x, err := newIndex(opts.Client, builder{trustDomain: opts.TrustDomain, log: opts.Log}, opts.Log)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, x: x, p: newPolicyWatch(opts.Dynamic, opts.Client.Discovery(), opts.Log)}, nil
}

// Start starts the informers, those of policy objects first, and returns once their caches
// are filled, or with an error when ctx ends first. Everything stops when ctx ends. Call it
// once.
func (s *Server) Start(ctx context.Context) error {
	if err := s.p.start(ctx); err != nil {
		return err
	}
	return s.x.start(ctx)
}

// Ready says whether the caches are filled: before, a Get waits, since an empty cache would
// send proxies direct to Services that exist.
func (s *Server) Ready() bool {
	select {
	case <-s.x.synced:
		return true
	default:
		return false
	}
}

// Get streams the state of the target asked for until the client goes away.
func (s *Server) Get(req *destinationv1.GetDestination, stream grpc.ServerStreamingServer[destinationv1.Update]) error {
	ctx := stream.Context()
	t, err := parseTarget(req, s.opts.ClusterDomain)
	if err != nil {
		s.opts.Log.Debug("get refused", "peer", peerOf(ctx), "reason", status.Convert(err).Message())
		return err
	}
	select {
	case <-s.x.synced:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	sub := s.x.subscribe(t)
	defer s.x.unsubscribe(sub)
	m := s.opts.Metrics
	if m != nil {
		m.subscribers.Inc()
		defer m.subscribers.Dec()
	}
	log := s.opts.Log.With("target", t.String(), "peer", peerOf(ctx), "namespace", req.GetContext().GetNamespace())
	log.Debug("subscribed")
	var prev sent
	for {
		v := sub.view.Load()
		snap := v.cur.Load()
		updates := updatesBetween(prev, v, snap)
		for _, u := range updates {
			if err := stream.Send(u); err != nil {
				log.Debug("stream ended", "error", err)
				return err
			}
			if m != nil {
				m.updates.WithLabelValues(kindOf(u)).Inc()
			}
		}
		// A change of the view followed is timed from its informer event; a first answer, or
		// a switch to another view, was not caused by one.
		if m != nil && len(updates) > 0 && prev.view == v && !snap.cause.IsZero() {
			m.latency.Observe(time.Since(snap.cause).Seconds())
		}
		prev = sent{view: v, snap: snap}
		select {
		case <-sub.notify:
		case <-ctx.Done():
			log.Debug("unsubscribed")
			return nil
		}
	}
}

func kindOf(u *destinationv1.Update) string {
	switch u.GetUpdate().(type) {
	case *destinationv1.Update_Add:
		return "add"
	case *destinationv1.Update_Remove:
		return "remove"
	}
	return "no_endpoints"
}

// peerOf names the caller for logs: its SPIFFE identity when it gave a certificate, else its
// address.
func peerOf(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
		if id, err := trust.IDFromCertificate(ti.State.PeerCertificates[0]); err == nil {
			return id.String()
		}
	}
	return p.Addr.String()
}
