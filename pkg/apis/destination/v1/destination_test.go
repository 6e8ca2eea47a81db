package destinationv1_test

import (
	"net/netip"
	"testing"

	"google.golang.org/protobuf/proto"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
)

// The generated code builds and an Update through a gateway survives the wire.
func TestUpdateRoundTrip(t *testing.T) {
	addr := func(s string, port uint32) *destinationv1.SocketAddress {
		return &destinationv1.SocketAddress{Ip: netip.MustParseAddr(s).AsSlice(), Port: port}
	}
	tests := []struct {
		name string
		in   *destinationv1.Update
	}{
		{name: "add through a gateway", in: &destinationv1.Update{Update: &destinationv1.Update_Add{Add: &destinationv1.Add{
			Endpoints: []*destinationv1.Endpoint{{
				Address:      addr("198.18.1.10", 4143),
				Weight:       10000,
				Labels:       map[string]string{"service": "web", "namespace": "shop", "cluster": "east"},
				TlsIdentity:  "spiffe://east.meshfed.local/ns/shop/sa/web",
				ProtocolHint: destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP2,
				Gateway: &destinationv1.Gateway{
					Address:     addr("198.18.1.10", 4143),
					TlsIdentity: "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/gateway",
					Authority:   "web.shop.svc.cluster.local:80",
					Cluster:     "east",
				},
			}},
		}}}},
		{name: "remove", in: &destinationv1.Update{Update: &destinationv1.Update_Remove{Remove: &destinationv1.Remove{
			Addresses: []*destinationv1.SocketAddress{addr("fd00::1", 8080)},
		}}}},
		{name: "no endpoints", in: &destinationv1.Update{Update: &destinationv1.Update_NoEndpoints{NoEndpoints: &destinationv1.NoEndpoints{Exists: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var out destinationv1.Update
			if err := proto.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(tt.in, &out) {
				t.Errorf("got %v, want %v", &out, tt.in)
			}
		})
	}
	// The request's target is a oneof: an authority or an address, never both.
	req := &destinationv1.GetDestination{
		Target:  &destinationv1.GetDestination_Authority{Authority: "web.shop.svc.cluster.local:80"},
		Context: &destinationv1.ProxyContext{Namespace: "shop", Identity: "spiffe://west.meshfed.local/ns/shop/sa/cart"},
	}
	if req.GetAddress() != nil || req.GetAuthority() == "" {
		t.Errorf("target %v", req.GetTarget())
	}
	var _ destinationv1.DestinationServer = destinationv1.UnimplementedDestinationServer{}
}
