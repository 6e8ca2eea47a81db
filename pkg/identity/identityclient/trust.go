package identityclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Trust is one message of the identity service's WatchTrust stream, checked.
type Trust struct {
	Bundle *trust.Bundle
	Issuer *x509.Certificate
}

// ParseTrust checks a TrustState: a bundle of anchors, and a certificate. Whether the issuer
// chains to the bundle is not its to say: a leaf the bundle does not verify is refused when
// it comes (certs.Manager).
func ParseTrust(msg *identityv1.TrustState) (*Trust, error) {
	bundle, err := trust.ParseBundle(msg.GetTrustBundle())
	if err != nil {
		return nil, fmt.Errorf("trust_bundle: %w", err)
	}
	issuer, err := x509.ParseCertificate(msg.GetIssuerCertificate())
	if err != nil {
		return nil, fmt.Errorf("issuer_certificate: %w", err)
	}
	return &Trust{Bundle: bundle, Issuer: issuer}, nil
}

// FollowTrust calls take with each trust state the identity service streams, until ctx
// ends, opening the stream again with backoff whenever it breaks. A message that does not
// check is logged and skipped: what was taken before stays.
func FollowTrust(ctx context.Context, client identityv1.IdentityClient, log *slog.Logger, take func(*Trust)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		received, err := followOnce(ctx, client, log, take)
		if ctx.Err() != nil {
			return
		}
		if received {
			backoff = 100 * time.Millisecond
		}
		log.Warn("trust stream from the identity service broke; opening it again", "in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func followOnce(ctx context.Context, client identityv1.IdentityClient, log *slog.Logger, take func(*Trust)) (received bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.WatchTrust(ctx, &identityv1.WatchTrustRequest{})
	if err != nil {
		return false, err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return received, errors.New("the identity service ended the stream")
		}
		if err != nil {
			return received, err
		}
		received = true
		t, err := ParseTrust(msg)
		if err != nil {
			log.Error("trust state from the identity service not taken; the current one stays", "error", err)
			continue
		}
		take(t)
	}
}
