package discovery

import (
	"net/netip"
	"strings"
	"testing"

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
