package identity

import (
	"bytes"
	"crypto/x509"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
)

// TrustState is what WatchTrust streams: the cluster's trust bundle and the issuer signing
// now. Every change wakes every stream, so proxies follow an anchor rotation as it happens.
type TrustState struct {
	mu     sync.Mutex
	bundle []byte // PEM
	issuer []byte // DER
	// changed is closed, and replaced, at each change.
	changed chan struct{}
}

// NewTrustState returns a state with neither bundle nor issuer: streams wait for both.
func NewTrustState() *TrustState { return &TrustState{changed: make(chan struct{})} }

// SetBundle takes the bundle ConfigMap's PEM (checked by whoever read it).
func (t *TrustState) SetBundle(pem string) {
	t.set(func() bool { return t.swap(&t.bundle, []byte(pem)) })
}

// SetIssuer takes the certificate the service signs with now.
func (t *TrustState) SetIssuer(cert *x509.Certificate) {
	t.set(func() bool { return t.swap(&t.issuer, cert.Raw) })
}

func (t *TrustState) swap(field *[]byte, v []byte) bool {
	if bytes.Equal(*field, v) {
		return false
	}
	*field = v
	return true
}

func (t *TrustState) set(change func() bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if change() {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// current returns the state, nil until both halves are known, and a channel closed at the
// next change.
func (t *TrustState) current() (*identityv1.TrustState, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bundle == nil || t.issuer == nil {
		return nil, t.changed
	}
	return &identityv1.TrustState{TrustBundle: t.bundle, IssuerCertificate: t.issuer}, t.changed
}

// WatchTrust sends the trust state at once (once both halves are known) and at each change,
// until the client goes.
func (s *Server) WatchTrust(_ *identityv1.WatchTrustRequest, stream identityv1.Identity_WatchTrustServer) error {
	if s.opts.Trust == nil {
		return status.Error(codes.Unimplemented, "this identity service does not stream the trust state")
	}
	ctx := stream.Context()
	for {
		state, changed := s.opts.Trust.current()
		if state != nil {
			if err := stream.Send(state); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
