package membership

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/meshfed/meshfed/pkg/trust"
)

// ALPN names of the two kinds of connection one listener serves. The protocol is chosen in
// the handshake, so it is authenticated with the rest of it, and a client that offers neither
// gets no connection.
const (
	alpnPacket = "meshfed.io/membership-packet"
	alpnStream = "meshfed.io/membership-stream"
)

// Credentials are what a member proves itself with and checks its peers against. Both are
// functions, called at every handshake, so a renewed leaf or a rotated bundle applies to the
// next connection with no restart. A gateway passes its certificate manager's.
//
// The package builds both tls.Configs itself from these, rather than taking the caller's:
// then no config can leave out the peer check, allow a version below TLS 1.3 or offer other
// protocols on this port.
type Credentials struct {
	// Certificate is this member's leaf with its chain up to (not including) the anchor.
	Certificate func() (*tls.Certificate, error)
	// Bundle holds the anchors every peer must chain to.
	Bundle func() *trust.Bundle
	// Now is the time certificates are checked at; time.Now when nil. For tests.
	Now func() time.Time
}

func (c Credentials) validate() error {
	if c.Certificate == nil || c.Bundle == nil {
		return errors.New("credentials need both Certificate and Bundle")
	}
	return nil
}

// Reasons a connection is refused, the reason label of the refused connections counter.
const (
	reasonNoCertificate = "no_certificate" // the peer sent no certificate
	reasonUntrusted     = "untrusted"      // its chain does not reach an anchor of the bundle
	reasonNotAllowed    = "not_allowed"    // it chains, but Allowed rejects its identity
	reasonHandshake     = "handshake"      // anything else in the handshake: not TLS 1.3, timeout, bad ALPN
	reasonProtocol      = "protocol"       // after the handshake: no protocol chosen, a frame over MaxPacketSize
	reasonPeerRefused   = "peer_refused"   // the peer refused us with an alert; its log says why
)

// refusal is the error a peer check returns, so the code that ran the handshake can log
// and count it with the peer's address, which the check does not see.
type refusal struct {
	reason string
	peer   *trust.ID // nil when the peer's certificate gave none
	err    error
}

func (r *refusal) Error() string {
	if r.peer != nil {
		return fmt.Sprintf("%s (%s): %v", r.reason, r.peer, r.err)
	}
	return fmt.Sprintf("%s: %v", r.reason, r.err)
}

func (r *refusal) Unwrap() error { return r.err }

// peerCheck verifies a peer's chain against the bundle, then its identity with allowed. It
// is the VerifyConnection of both configs: it runs on every handshake, both directions.
func peerCheck(creds Credentials, allowed func(trust.ID) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &refusal{reason: reasonNoCertificate, err: errors.New("the peer sent no certificate")}
		}
		now := time.Now()
		if creds.Now != nil {
			now = creds.Now()
		}
		id, err := creds.Bundle().Verify(cs.PeerCertificates[0], cs.PeerCertificates[1:], now)
		if err != nil {
			return &refusal{reason: reasonUntrusted, err: err}
		}
		if err := allowed(id); err != nil {
			return &refusal{reason: reasonNotAllowed, peer: &id, err: err}
		}
		return nil
	}
}

// serverConfig serves both protocols and requires a client certificate. The certificate is
// requested, not required, in tls terms so that a client without one reaches peerCheck and
// is refused with its own reason.
func serverConfig(creds Credentials, allowed func(trust.ID) error) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{alpnPacket, alpnStream},
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return creds.Certificate()
		},
		VerifyConnection: peerCheck(creds, allowed),
	}
}

// clientConfig offers exactly one protocol. Peers are checked by identity, not host name:
// the address came from gossip, and a name in it would prove nothing.
func clientConfig(creds Credentials, allowed func(trust.ID) error, proto string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{proto},
		InsecureSkipVerify: true, // replaced by VerifyConnection: SPIFFE identities, not host names
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return creds.Certificate()
		},
		VerifyConnection: peerCheck(creds, allowed),
	}
}
