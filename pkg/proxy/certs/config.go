package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/meshfed/meshfed/pkg/trust"
)

// Protocols spoken between proxies, as ALPN names: HTTP multiplexed over HTTP/2, or one TCP
// stream carried as it is.
const (
	ALPNHTTP   = "h2"
	ALPNOpaque = "meshfed.io/opaque"
)

// ClientConfig is the config of a connection to a peer proxy that must prove server, offering
// the given ALPN protocols and this proxy's own leaf.
func (m *Manager) ClientConfig(server trust.ID, alpn ...string) *tls.Config {
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
			if got != server {
				return fmt.Errorf("peer proxy is %s, not %s as the destination service announced", got, server)
			}
			return nil
		},
	}
}

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
