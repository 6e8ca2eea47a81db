package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/meshfed/meshfed/pkg/trust"
)

// Protocols spoken between proxies, as ALPN names: HTTP multiplexed over HTTP/2, or one TCP
// stream carried as it is.
const (
	ALPNHTTP   = "h2"
	ALPNOpaque = "meshfed.io/opaque"
	// ALPNGateway is the outer session from a proxy to another cluster's east-west gateway:
	// HTTP/2 whose CONNECT streams each carry one inner session, spoken in h2 or opaque.
	ALPNGateway = "meshfed.io/gateway"
)

// ClientConfig is the config of a connection to a peer proxy that must prove server, offering
// the given ALPN protocols and this proxy's own leaf.
func (m *Manager) ClientConfig(server trust.ID, alpn ...string) *tls.Config {
	return m.ClientConfigAnyOf([]trust.ID{server}, alpn...)
}

// ClientConfigAnyOf is ClientConfig for a peer that may prove any one of servers: a workload
// of another cluster reached through its gateway, which picks the pod.
func (m *Manager) ClientConfigAnyOf(servers []trust.ID, alpn ...string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         alpn,
		InsecureSkipVerify: true, // replaced by VerifyConnection: SPIFFE identities, not host names
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return m.certificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := m.verifyPeer(cs.PeerCertificates)
			if err != nil {
				return fmt.Errorf("peer proxy: %w", err)
			}
			if slices.Contains(servers, got) {
				return nil
			}
			if len(servers) == 1 {
				return fmt.Errorf("peer proxy is %s, not %s as the destination service announced", got, servers[0])
			}
			names := make([]string, len(servers))
			for i, s := range servers {
				names[i] = s.String()
			}
			return fmt.Errorf("peer proxy is %s, none of %s as the destination service announced", got, strings.Join(names, ", "))
		},
	}
}

// GatewayServerConfig is the config of an east-west gateway's listener: every client must
// give a certificate that chains to the bundle (the handshake fails otherwise), and the only
// protocol is ALPNGateway. Which clusters may call is the gateway's to decide, after.
func (m *Manager) GatewayServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{ALPNGateway},
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.certificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, err := m.verifyPeer(cs.PeerCertificates); err != nil {
				return ErrUntrustedPeer{err}
			}
			if cs.NegotiatedProtocol != ALPNGateway {
				return fmt.Errorf("the client offers %q, not %q", cs.NegotiatedProtocol, ALPNGateway)
			}
			return nil
		},
	}
}

// ErrUntrustedPeer is a peer certificate that does not chain to the bundle.
type ErrUntrustedPeer struct{ Err error }

func (e ErrUntrustedPeer) Error() string { return "the peer's certificate: " + e.Err.Error() }
func (e ErrUntrustedPeer) Unwrap() error { return e.Err }

// ServerConfig is the config of the inbound side: it asks every client for its certificate
// and, when one is given, checks it against the bundle; a client with none is plaintext to
// the mesh, which PeerID reports and policy decides on.
func (m *Manager) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{ALPNHTTP, ALPNOpaque},
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.certificate()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			_, err := m.verifyPeer(cs.PeerCertificates)
			return err
		},
	}
}

// PeerID is the verified identity of a TLS connection's peer, or nil when it gave no
// certificate. Only call it on connections made with ServerConfig or ClientConfig, which
// verified the chain.
func PeerID(cs tls.ConnectionState) (*trust.ID, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, nil
	}
	id, err := trust.IDFromCertificate(cs.PeerCertificates[0])
	if err != nil {
		return nil, err
	}
	return &id, nil
}

func (m *Manager) verifyPeer(certs []*x509.Certificate) (trust.ID, error) {
	if len(certs) == 0 {
		return trust.ID{}, errors.New("no certificate")
	}
	return m.Bundle().Verify(certs[0], certs[1:], m.now())
}
