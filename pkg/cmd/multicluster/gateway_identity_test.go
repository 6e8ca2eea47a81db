package multicluster

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

const eastGatewayID = "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway"

// gatewayServer is a TLS 1.3 server on loopback that shows a certificate of id from anchor and,
// like the gateway, asks the caller for one.
func gatewayServer(t *testing.T, anchor *trust.CA, id string) net.Listener {
	t.Helper()
	parsed, err := trust.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := anchor.IssueLeaf(parsed, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{certs.ALPNGateway},
		ClientAuth:   tls.RequireAnyClientCert,
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake() // refused: the caller has no certificate
			c.Close()
		}
	}()
	return lis
}

func TestCheckGatewayIdentity(t *testing.T) {
	anchor, err := trust.NewAnchor("federation", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := trust.NewAnchor("another federation", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: trust.Namespace, Name: trust.BundleConfigMapName},
		Data:       map[string]string{trust.BundleKey: string(anchor.CertPEM())},
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name string
		// server is where the gateway's address leads; empty: nowhere is dialled.
		server  func(t *testing.T) string
		linkID  string
		objects []runtime.Object
		wantErr string
	}{
		{name: "the expected identity, from the shared anchor", linkID: eastGatewayID, objects: []runtime.Object{bundle},
			server: func(t *testing.T) string { return gatewayServer(t, anchor, eastGatewayID).Addr().String() }},
		{name: "another anchor", linkID: eastGatewayID, objects: []runtime.Object{bundle},
			server:  func(t *testing.T) string { return gatewayServer(t, other, eastGatewayID).Addr().String() },
			wantErr: "does not chain to this cluster's trust anchors"},
		{name: "another identity", linkID: eastGatewayID, objects: []runtime.Object{bundle},
			server: func(t *testing.T) string {
				return gatewayServer(t, anchor, "spiffe://east.meshfed.local/ns/shop/sa/web").Addr().String()
			},
			wantErr: "but the Link expects " + eastGatewayID},
		{name: "nothing listening", linkID: eastGatewayID, objects: []runtime.Object{bundle},
			server: func(*testing.T) string { return closedAddr }, wantErr: "cannot reach the gateway"},
		{name: "no mesh here: no proxy of this cluster calls the gateway", linkID: eastGatewayID},
		{name: "a Link that expects no gateway identity is not checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "127.0.0.1:1" // never dialled unless a case says where
			if tt.server != nil {
				target = tt.server(t)
			}
			dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, target)
			}
			link := newLink("east", func(l *mcv1alpha1.Link) { l.Spec.GatewayIdentity = tt.linkID })
			west := newCluster(westHost, tt.objects)
			err := checkGatewayIdentity(context.Background(), link, west.clients(), dial)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
