package destination

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// The listener as cmd/controller makes it: its own workload leaf held by a certs.Manager
// (signed here as the identity service would sign it), proxies checked against the manager's
// bundle; a proxy's leaf accepted, no certificate, another cluster's leaf or a stranger's
// refused. The service's user may not read the issuer Secret: it has no need to.
func TestTLS(t *testing.T) {
	ctx := testContext(t)
	now := time.Now()
	anchor, err := trust.NewAnchor("test anchor", 96*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	west, err := trust.NewIssuer(anchor, trust.IssuerCommonName("west"), 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	east, err := trust.NewIssuer(anchor, trust.IssuerCommonName("east"), 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := suite.service.CoreV1().Secrets(trust.Namespace).Get(ctx, trust.IssuerSecretName, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("reading the issuer Secret as the service: %v, want forbidden", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	self := ServiceID(testDomain, trust.Namespace)
	leaves := certs.NewManager(self, trust.NewBundle(anchor.Cert), nil, log)
	own := leaf(t, west, self)
	if err := leaves.Set(&identityclient.Leaf{Key: own.PrivateKey.(*ecdsa.PrivateKey), Certificate: own.Leaf, Intermediates: []*x509.Certificate{west.Cert}}); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(TLSConfig(leaves, testDomain, nil))))
	destinationv1.RegisterDestinationServer(g, suite.server)
	go g.Serve(lis)
	defer g.Stop()

	stranger, err := trust.NewAnchor("stranger", 96*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	strangerIssuer, err := trust.NewIssuer(stranger, "identity.west.meshfed", 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"a proxy of this cluster", leaf(t, west, trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}), ""},
		{"no certificate", nil, "no client certificate"},
		{"a proxy of another cluster", leaf(t, east, trust.ID{TrustDomain: "east.meshfed.local", Namespace: "shop", ServiceAccount: "web"}), `is of trust domain "east.meshfed.local"`},
		{"another anchor", leaf(t, strangerIssuer, trust.ID{TrustDomain: testDomain, Namespace: "shop", ServiceAccount: "web"}), "does not chain to an anchor"},
	}
	verify := TLSConfig(leaves, testDomain, nil).VerifyConnection
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := identityclient.ClientTLSConfig(trust.NewBundle(anchor.Cert), self, nil)
			if tt.cert != nil {
				cfg.Certificates = []tls.Certificate{*tt.cert}
			}
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			stream, err := destinationv1.NewDestinationClient(conn).Get(ctx, &destinationv1.GetDestination{
				Target: &destinationv1.GetDestination_Authority{Authority: "nothere.shop:80"},
			})
			if err == nil {
				_, err = stream.Recv()
			}
			// In TLS 1.3 the client's handshake is over before the server checks its
			// certificate: the client sees an alert or a closed connection, so why is asked
			// of the check itself.
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && status.Code(err) != codes.Unavailable:
				t.Fatalf("error %v, want the connection refused (Unavailable)", err)
			}
			var cs tls.ConnectionState
			if tt.cert != nil {
				for _, raw := range tt.cert.Certificate {
					c, err := x509.ParseCertificate(raw)
					if err != nil {
						t.Fatal(err)
					}
					cs.PeerCertificates = append(cs.PeerCertificates, c)
				}
			}
			err = verify(cs)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("VerifyConnection: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// leaf signs a workload certificate for id, as the identity service would.
func leaf(t *testing.T, ca *trust.CA, id trust.ID) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := trust.NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.SignLeaf(csr, id, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{c.Raw, ca.Cert.Raw}, PrivateKey: key, Leaf: c}
}
