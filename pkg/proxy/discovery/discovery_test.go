package discovery

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshfed/meshfed/internal/testenv"
	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	"github.com/meshfed/meshfed/pkg/trust"
)

func TestEndpointOfGateway(t *testing.T) {
	gwAddr := &destinationv1.SocketAddress{Ip: []byte{198, 18, 0, 100}, Port: 4143}
	gwID := "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway"
	tests := []struct {
		name    string
		gateway *destinationv1.Gateway
		wantErr string
	}{
		{
			name:    "through the gateway",
			gateway: &destinationv1.Gateway{Address: gwAddr, TlsIdentity: gwID, Authority: "web.shop.svc.cluster.local:80", Cluster: "east"},
		},
		{
			name: "with remote identities",
			gateway: &destinationv1.Gateway{Address: gwAddr, TlsIdentity: gwID, Authority: "web.shop.svc.cluster.local:80", Cluster: "east",
				RemoteIdentities: []string{"spiffe://east.meshfed.local/ns/shop/sa/web"}},
		},
		{
			name:    "no gateway identity",
			gateway: &destinationv1.Gateway{Address: gwAddr, Authority: "web.shop.svc.cluster.local:80"},
			wantErr: "spec.gatewayIdentity",
		},
		{
			name:    "authority without a port",
			gateway: &destinationv1.Gateway{Address: gwAddr, TlsIdentity: gwID, Authority: "web.shop.svc.cluster.local"},
			wantErr: "not host:port",
		},
		{
			name:    "bad remote identity",
			gateway: &destinationv1.Gateway{Address: gwAddr, TlsIdentity: gwID, Authority: "web.shop.svc.cluster.local:80", RemoteIdentities: []string{"web"}},
			wantErr: "remote_identities",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := endpointOf(&destinationv1.Endpoint{Address: gwAddr, Gateway: tt.gateway})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.Addr != netip.MustParseAddrPort("198.18.0.100:4143") {
				t.Errorf("address = %s, want the gateway's", ep.Addr)
			}
			if ep.Gateway == nil {
				t.Fatal("no gateway hop")
			}
			want, err := trust.ParseID(gwID)
			if err != nil {
				t.Fatal(err)
			}
			if ep.Gateway.Identity != want {
				t.Errorf("gateway identity = %s, want %s", ep.Gateway.Identity, want)
			}
			if ep.Gateway.Authority != tt.gateway.Authority || ep.Gateway.Cluster != tt.gateway.Cluster {
				t.Errorf("hop = %+v, want the authority and cluster of %+v", ep.Gateway, tt.gateway)
			}
			if len(ep.Gateway.RemoteIdentities) != len(tt.gateway.RemoteIdentities) {
				t.Errorf("remote identities = %v, want %v", ep.Gateway.RemoteIdentities, tt.gateway.RemoteIdentities)
			}
		})
	}
}

// destinations is a destination service whose Get sends what the test puts in updates.
type destinations struct {
	destinationv1.UnimplementedDestinationServer
	updates chan *destinationv1.Update
}

func (d *destinations) Get(_ *destinationv1.GetDestination, stream destinationv1.Destination_GetServer) error {
	for {
		select {
		case u := <-d.updates:
			if err := stream.Send(u); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// The resolver holds what the stream said, and says so on /metrics: an operator reads there
// whether a scale-down has reached a proxy.
func TestResolverCountsEndpoints(t *testing.T) {
	srv := &destinations{updates: make(chan *destinationv1.Update, 4)}
	client := serveDestination(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := New(ctx, client, "shop", trust.ID{TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "web"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)

	addr := func(last byte) *destinationv1.SocketAddress {
		return &destinationv1.SocketAddress{Ip: []byte{198, 18, 128, last}, Port: 8080}
	}
	srv.updates <- &destinationv1.Update{Update: &destinationv1.Update_Add{Add: &destinationv1.Add{Endpoints: []*destinationv1.Endpoint{{Address: addr(1)}, {Address: addr(2)}}}}}
	const target = "voting.shop.svc.cluster.local:8080"
	d, err := r.Resolve(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Endpoints.Len(); n != 2 {
		t.Fatalf("%d endpoints after adding 2", n)
	}
	srv.updates <- &destinationv1.Update{Update: &destinationv1.Update_Remove{Remove: &destinationv1.Remove{Addresses: []*destinationv1.SocketAddress{addr(1)}}}}
	want := `
# HELP meshfed_proxy_destination_endpoints Endpoints the proxy holds for each target it follows, as the destination service last said.
# TYPE meshfed_proxy_destination_endpoints gauge
meshfed_proxy_destination_endpoints{target="voting.shop.svc.cluster.local:8080"} 1
`
	testenv.Eventually(t, 10*time.Second, "the gauge to count the endpoint left", func() error {
		return testutil.GatherAndCompare(reg, strings.NewReader(want), "meshfed_proxy_destination_endpoints")
	})
}
