package multicluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// dialFunc opens a connection, as net.Dialer.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// gatewayDialTimeout bounds each handshake with a gateway: a gateway that is up answers in
// milliseconds, one that is not may never.
const gatewayDialTimeout = 5 * time.Second

// checkGatewayIdentity dials every gateway address of the Link from here and checks that it
// speaks TLS 1.3 with a certificate that chains to this cluster's trust anchors, which the
// clusters must share, and names the identity the Link expects. It reads the handshake only:
// the gateway refuses a caller without a certificate of the federation, after it has shown its
// own. A Link that names no gateway identity, or a cluster without the mesh, has nothing to
// check.
func checkGatewayIdentity(ctx context.Context, link *mcv1alpha1.Link, local *cmdutil.Clients, dial dialFunc) error {
	want := link.Spec.GatewayIdentity
	if want == "" || len(link.Spec.GatewayAddresses) == 0 {
		return nil
	}
	cm, err := local.Kube.CoreV1().ConfigMaps(trust.Namespace).Get(ctx, trust.BundleConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// No mesh here: no proxy of this cluster calls the gateway, and mirrors alone need
		// nothing of it (mesh check says whether the mesh is installed).
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the trust bundle ConfigMap %s/%s: %w", trust.Namespace, trust.BundleConfigMapName, err)
	}
	bundle, err := trust.ParseBundle([]byte(cm.Data[trust.BundleKey]))
	if err != nil {
		return fmt.Errorf("the trust bundle ConfigMap %s/%s, key %s: %w", trust.Namespace, trust.BundleConfigMapName, trust.BundleKey, err)
	}
	port := link.Spec.GatewayPort
	if port == 0 {
		port = mcv1alpha1.DefaultGatewayPort
	}
	var errs []error
	for _, a := range link.Spec.GatewayAddresses {
		addr := net.JoinHostPort(a, strconv.Itoa(int(port)))
		id, err := gatewayIdentityAt(ctx, dial, addr, bundle)
		switch {
		case err != nil:
			errs = append(errs, err)
		case id.String() != want:
			errs = append(errs, fmt.Errorf("the gateway at %s is %s, but the Link expects %s", addr, id, want))
		}
	}
	return errors.Join(errs...)
}

// gatewayIdentityAt shakes hands with the gateway at addr and returns the identity its
// certificate proves under bundle.
func gatewayIdentityAt(ctx context.Context, dial dialFunc, addr string, bundle *trust.Bundle) (trust.ID, error) {
	ctx, cancel := context.WithTimeout(ctx, gatewayDialTimeout)
	defer cancel()
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return trust.ID{}, fmt.Errorf("cannot reach the gateway at %s from here: %w", addr, err)
	}
	defer raw.Close()
	var id trust.ID
	conn := tls.Client(raw, &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{certs.ALPNGateway},
		// The chain is checked against the bundle below: the gateway's certificate names a
		// SPIFFE identity, not the address dialled.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			var err error
			id, err = bundle.Verify(cs.PeerCertificates[0], cs.PeerCertificates[1:], time.Now())
			if err != nil {
				return &untrusted{subject: cs.PeerCertificates[0].Subject.String(), err: err}
			}
			return nil
		},
	})
	err = conn.HandshakeContext(ctx)
	var u *untrusted
	switch {
	case errors.As(err, &u):
		return trust.ID{}, fmt.Errorf("the gateway at %s presents a certificate (%s) that does not chain to this cluster's trust anchors: the clusters must share one anchor (%v)", addr, u.subject, u.err)
	case err != nil:
		return trust.ID{}, fmt.Errorf("TLS 1.3 with the gateway at %s: %w", addr, err)
	}
	return id, nil
}

type untrusted struct {
	subject string
	err     error
}

func (u *untrusted) Error() string { return u.subject + ": " + u.err.Error() }
