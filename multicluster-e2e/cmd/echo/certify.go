package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

// certifyFlags say where the identity service is and what to prove to it, as a proxy would.
type certifyFlags struct {
	addr, identity, server, tokenFile, bundleFile string
}

func (c *certifyFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "identity-addr", "meshfed-identity.mesh-system.svc:8080", "the identity service")
	fs.StringVar(&c.identity, "identity", "", "the SPIFFE identity to ask for (certify)")
	fs.StringVar(&c.server, "server-identity", "", "the identity service's own SPIFFE identity; default: meshfed-identity in mesh-system of --identity's trust domain")
	fs.StringVar(&c.tokenFile, "token", "/var/run/secrets/meshfed.io/identity/token", "the projected ServiceAccount token, audience "+identityclient.Audience)
	fs.StringVar(&c.bundleFile, "bundle", "/var/run/secrets/meshfed.io/trust/ca-bundle.crt", "the trust bundle")
}

// certify asks for a leaf, checks it against the bundle and prints its chain.
func certify(ctx context.Context, c certifyFlags, out io.Writer) error {
	if c.identity == "" {
		return errors.New("certify needs --identity spiffe://<trust-domain>/ns/<ns>/sa/<sa>")
	}
	id, err := trust.ParseID(c.identity)
	if err != nil {
		return fmt.Errorf("--identity: %w", err)
	}
	server := trust.ID{TrustDomain: id.TrustDomain, Namespace: "mesh-system", ServiceAccount: "meshfed-identity"}
	if c.server != "" {
		if server, err = trust.ParseID(c.server); err != nil {
			return fmt.Errorf("--server-identity: %w", err)
		}
	}
	token, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(c.bundleFile)
	if err != nil {
		return err
	}
	bundle, err := trust.ParseBundle(raw)
	if err != nil {
		return fmt.Errorf("--bundle: %w", err)
	}
	conn, err := identityclient.Dial(c.addr, bundle, server)
	if err != nil {
		return err
	}
	defer conn.Close()
	leaf, err := identityclient.Request(ctx, identityv1.NewIdentityClient(conn), id, token)
	if err != nil {
		return err
	}
	if _, err := bundle.Verify(leaf.Certificate, leaf.Intermediates, time.Now()); err != nil {
		return fmt.Errorf("the leaf does not verify with the bundle: %w", err)
	}
	_, err = out.Write(trust.EncodeCertificates(append([]*x509.Certificate{leaf.Certificate}, leaf.Intermediates...)...))
	return err
}
