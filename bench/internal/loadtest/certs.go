package loadtest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// IssueCerts is what a bench's child (a proxy, a gateway) holds instead of the identity
// service's leaf: a leaf for id that its cluster's issuer (issuerCert, issuerKey: PEM files)
// signs at start, checked against the anchor in anchorFile. Nothing renews it: a bench is
// over long before it expires.
func IssueCerts(id trust.ID, anchorFile, issuerCert, issuerKey string, log *slog.Logger) (*certs.Manager, error) {
	anchorPEM, err := os.ReadFile(anchorFile)
	if err != nil {
		return nil, fmt.Errorf("the anchor: %w", err)
	}
	bundle, err := trust.ParseBundle(anchorPEM)
	if err != nil {
		return nil, fmt.Errorf("the anchor: %w", err)
	}
	certPEM, err := os.ReadFile(issuerCert)
	if err != nil {
		return nil, fmt.Errorf("the issuer: %w", err)
	}
	keyPEM, err := os.ReadFile(issuerKey)
	if err != nil {
		return nil, fmt.Errorf("the issuer's key: %w", err)
	}
	issuer, err := trust.LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	cert, key, err := issuer.IssueLeaf(id, 12*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	noRenewal := certs.CertifierFunc(func(context.Context) (*identityclient.Leaf, error) {
		return nil, errors.New("a bench's parts have no identity service")
	})
	m := certs.NewManager(id, bundle, noRenewal, log)
	return m, m.Set(&identityclient.Leaf{Key: key, Certificate: cert, Intermediates: []*x509.Certificate{issuer.Cert}})
}
