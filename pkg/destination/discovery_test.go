package destination

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/proxy/discovery"
	"github.com/meshfed/meshfed/pkg/trust"
)

// The proxy's own client of the service, pkg/proxy/discovery, sees what it must: a meshed
// Service with its identities and protocol, something unknown as not in the mesh (go
// direct), and a scale down.
func TestProxyDiscovery(t *testing.T) {
	ns := newNamespace(t)
	svc := createService(t, service(ns, "web", withAppProtocol("grpc")))
	createPod(t, pod(ns, "web-a", withProxy, withSA("web")), "")
	createPod(t, pod(ns, "web-b", withProxy, withSA("web")), "")
	s := createSlice(t, slice(ns, "web", "web-1", 8080, endpoint(ip(ns, 1), "web-a"), endpoint(ip(ns, 2), "web-b")))

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	self := trust.ID{TrustDomain: testDomain, Namespace: "client", ServiceAccount: "client"}
	r := discovery.New(ctx, suite.client, "client", self, slog.New(slog.NewTextHandler(io.Discard, nil)))

	for _, target := range []string{"web." + ns + ".svc.cluster.local:80", svc.Spec.ClusterIP + ":80"} {
		t.Run(target, func(t *testing.T) {
			var d *proxy.Destination
			testenv.Eventually(t, 10*time.Second, "two endpoints", func() error {
				var err error
				if d, err = r.Resolve(testContext(t), target); err != nil {
					return err
				}
				if !d.Known() || d.Endpoints.Len() != 2 {
					return fmt.Errorf("known %v, %d endpoints", d.Known(), d.Endpoints.Len())
				}
				return nil
			})
			h, err := d.Endpoints.Pick()
			if err != nil {
				t.Fatal(err)
			}
			defer h.Done(false)
			want := trust.ID{TrustDomain: testDomain, Namespace: ns, ServiceAccount: "web"}
			if h.Value.Identity == nil || *h.Value.Identity != want || h.Value.Protocol != proxy.ProtocolHTTP2 {
				t.Errorf("picked %+v, want identity %s and HTTP/2 (gRPC)", h.Value, want)
			}
		})
	}

	for _, target := range []string{"example.com:443", "203.0.113.7:443"} {
		d, err := r.Resolve(testContext(t), target)
		if err != nil {
			t.Fatal(err)
		}
		if d.Known() {
			t.Errorf("%s is known to the mesh; want it reached directly", target)
		}
	}

	s.Endpoints = []discoveryv1.Endpoint{endpoint(ip(ns, 1), "web-a")}
	updateSlice(t, s)
	d, err := r.Resolve(testContext(t), "web."+ns+".svc.cluster.local:80")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "one endpoint left", func() error {
		if n := d.Endpoints.Len(); n != 1 {
			return fmt.Errorf("%d endpoints", n)
		}
		return nil
	})
}
