package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	policyv1alpha1 "github.com/meshfed/meshfed/pkg/apis/policy/v1alpha1"
	"github.com/meshfed/meshfed/pkg/policy"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
)

// policies is a destination service whose GetPolicy sends what the test puts in updates;
// a nil update ends the stream with an error.
type policies struct {
	destinationv1.UnimplementedDestinationServer
	updates chan *destinationv1.PolicyUpdate
	asked   chan string
}

func (p *policies) GetPolicy(req *destinationv1.GetPolicyRequest, stream destinationv1.Destination_GetPolicyServer) error {
	p.asked <- req.GetNamespace()
	for {
		select {
		case u := <-p.updates:
			if u == nil {
				return status.Error(codes.Unavailable, "going away")
			}
			if err := stream.Send(u); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// syncBuffer is a log sink the test reads while the follower writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func update(t *testing.T, objs policy.Objects) *destinationv1.PolicyUpdate {
	t.Helper()
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	return &destinationv1.PolicyUpdate{Objects: b}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// serveDestination serves srv as the destination service on loopback and returns a client.
func serveDestination(t *testing.T, srv destinationv1.DestinationServer) destinationv1.DestinationClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	destinationv1.RegisterDestinationServer(g, srv)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return destinationv1.NewDestinationClient(conn)
}

func TestFollowPolicy(t *testing.T) {
	const ns, td = "shop", "west.meshfed.local"
	srv := &policies{updates: make(chan *destinationv1.PolicyUpdate), asked: make(chan string, 4)}
	destination := serveDestination(t, srv)

	pod, err := proxy.PodFromEnv(`{"app":"web"}`, `{"http":8080}`)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := policy.Compile(ns, td, policy.Objects{})
	if err != nil {
		t.Fatal(err)
	}
	a := proxy.NewPolicyAuthorizer(pod, policy.AllUnauthenticated, empty)
	client := netip.MustParseAddr("10.0.0.7")
	allowed := func() bool { ok, _ := a.Authorize(8080, nil, client); return ok }
	if !allowed() {
		t.Fatal("before any update the default policy (all-unauthenticated) should allow")
	}

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		FollowPolicy(ctx, destination, trust.ID{TrustDomain: td, Namespace: ns, ServiceAccount: "web"}, a, log)
	}()
	t.Cleanup(func() { cancel(); <-done })
	if got := <-srv.asked; got != ns {
		t.Fatalf("asked for namespace %q; want %q", got, ns)
	}

	// A Server on the pod's named port with no AuthorizationPolicy: nobody gets in.
	web := policyv1alpha1.Server{
		ObjectMeta: metav1.ObjectMeta{Name: "web-http", Namespace: ns},
		Spec: policyv1alpha1.ServerSpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Port:        intstr.FromString("http"),
		},
	}
	srv.updates <- update(t, policy.Objects{Servers: []policyv1alpha1.Server{web}})
	waitFor(t, "the Server to deny", func() bool { return !allowed() })

	// An update that does not compile (the Server twice) is logged and changes nothing.
	srv.updates <- update(t, policy.Objects{Servers: []policyv1alpha1.Server{web, web}})
	waitFor(t, "the bad update to be logged", func() bool { return strings.Contains(logs.String(), "policy update not taken") })
	if allowed() {
		t.Fatal("a bad update replaced the policy")
	}

	// The stream breaks; the proxy asks again and takes what the new stream sends.
	srv.updates <- nil
	if got := <-srv.asked; got != ns {
		t.Fatalf("asked again for namespace %q; want %q", got, ns)
	}
	if allowed() {
		t.Fatal("the policy was dropped while the stream was down")
	}
	srv.updates <- update(t, policy.Objects{
		Servers: []policyv1alpha1.Server{web},
		AuthorizationPolicies: []policyv1alpha1.AuthorizationPolicy{{
			ObjectMeta: metav1.ObjectMeta{Name: "web-from-anywhere", Namespace: ns},
			Spec: policyv1alpha1.AuthorizationPolicySpec{
				TargetRef: policyv1alpha1.TargetRef{Kind: policyv1alpha1.TargetServer, Name: "web-http"},
				RequiredAuthenticationRefs: []policyv1alpha1.AuthenticationRef{
					{Kind: policyv1alpha1.KindNetworkAuthentication, Name: "anywhere"},
				},
			},
		}},
		NetworkAuthentications: []policyv1alpha1.NetworkAuthentication{{
			ObjectMeta: metav1.ObjectMeta{Name: "anywhere", Namespace: ns},
			Spec:       policyv1alpha1.NetworkAuthenticationSpec{Networks: []policyv1alpha1.Network{{CIDR: "0.0.0.0/0"}}},
		}},
	})
	waitFor(t, "the AuthorizationPolicy to allow", allowed)
}
