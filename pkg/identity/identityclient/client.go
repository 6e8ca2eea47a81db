package identityclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Audience is the audience a workload's projected token must carry for the identity service:
// a token meant for the API server, or for anything else, proves nothing there.
const Audience = "identity.meshfed.io"

// ClientTLSConfig is what a workload uses to reach the identity service: TLS 1.3, and the
// server must prove it is server (its leaf chains to the bundle and names that identity);
// host names play no part.
func ClientTLSConfig(bundle *trust.Bundle, server trust.ID, now func() time.Time) *tls.Config {
	return ClientTLSConfigFunc(func() *trust.Bundle { return bundle }, server, now)
}

// ClientTLSConfigFunc is ClientTLSConfig with the bundle asked of bundle at each handshake,
// for a workload that follows a bundle changing while it runs.
func ClientTLSConfigFunc(bundle func() *trust.Bundle, server trust.ID, now func() time.Time) *tls.Config {
	if now == nil {
		now = time.Now
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"h2"},
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate: SPIFFE, not host names
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("identity service sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return fmt.Errorf("identity service certificate %d: %w", i, err)
				}
				certs[i] = c
			}
			got, err := bundle().Verify(certs[0], certs[1:], now())
			if err != nil {
				return fmt.Errorf("identity service certificate: %w", err)
			}
			if got != server {
				return fmt.Errorf("identity service is %s, expected %s", got, server)
			}
			return nil
		},
	}
}

// Dial connects to the identity service at addr.
func Dial(addr string, bundle *trust.Bundle, server trust.ID) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(ClientTLSConfig(bundle, server, nil))))
}

// DialFunc is Dial with the bundle asked of bundle at each handshake.
func DialFunc(addr string, bundle func() *trust.Bundle, server trust.ID) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(ClientTLSConfigFunc(bundle, server, nil))))
}

// Leaf is what a workload holds after Certify: its key, its leaf and the chain above it.
type Leaf struct {
	Key           *ecdsa.PrivateKey
	Certificate   *x509.Certificate
	Intermediates []*x509.Certificate
}

// TLSCertificate is the leaf as crypto/tls wants it.
func (l *Leaf) TLSCertificate() *tls.Certificate {
	chain := [][]byte{l.Certificate.Raw}
	for _, c := range l.Intermediates {
		chain = append(chain, c.Raw)
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: l.Key, Leaf: l.Certificate}
}

// Request makes a key and asks the service for a leaf for id, proving it with token. The
// answer is checked: a leaf that does not name id or does not fit the key is an error.
func Request(ctx context.Context, client identityv1.IdentityClient, id trust.ID, token []byte) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := trust.NewCSR(key, id)
	if err != nil {
		return nil, err
	}
	resp, err := client.Certify(ctx, &identityv1.CertifyRequest{Identity: id.String(), Token: token, CertificateSigningRequest: csr})
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(resp.GetLeafCertificate())
	if err != nil {
		return nil, fmt.Errorf("leaf from the identity service: %w", err)
	}
	got, err := trust.IDFromCertificate(leaf)
	if err != nil || got != id {
		return nil, fmt.Errorf("leaf from the identity service names %v, not %s", got, id)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("leaf from the identity service is not for the key asked with")
	}
	out := &Leaf{Key: key, Certificate: leaf}
	for i, raw := range resp.GetIntermediateCertificates() {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("intermediate %d from the identity service: %w", i, err)
		}
		out.Intermediates = append(out.Intermediates, c)
	}
	return out, nil
}

// RequestWithTokenFile returns a function asking client for a leaf for id, as Request does,
// with the token read from tokenFile at each call (the kubelet rotates projected tokens) and
// each call given at most timeout. It is what a pod's certs.Manager certifies with.
func RequestWithTokenFile(client identityv1.IdentityClient, id trust.ID, tokenFile string, timeout time.Duration) func(context.Context) (*Leaf, error) {
	return func(ctx context.Context) (*Leaf, error) {
		token, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("the projected token: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return Request(ctx, client, id, []byte(strings.TrimSpace(string(token))))
	}
}
