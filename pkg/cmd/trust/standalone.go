package trustcmd

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/certmanager"
)

// Standalone is what a cluster applies to get an issuer made here, without cert-manager: the
// objects (the namespace, the issuer Secret, the trust bundle ConfigMap, in that order) and
// the issuer they hold.
type Standalone struct {
	Objects []runtime.Object
	Issuer  *trust.CA
	Bundle  *trust.Bundle
}

// NewStandalone reads the anchor folder dir (named by flag in errors), makes cluster's issuer
// valid for validity from now, and the objects that hold it and a bundle of the anchor
// and those of more. `mesh trust cluster` without --cert-manager prints them; `mesh install
// --anchor` prints them with the control plane, so that both give the same trust.
func NewStandalone(flag, dir, cluster string, more *trust.Bundle, validity time.Duration, now time.Time) (*Standalone, error) {
	anchor, err := readAnchor(flag, dir)
	if err != nil {
		return nil, err
	}
	bundle := trust.NewBundle(anchor.Cert)
	if more != nil {
		bundle = trust.NewBundle(append(bundle.Anchors(), more.Anchors()...)...)
	}
	issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName(cluster), validity, now)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	objs, err := certmanager.StandaloneObjects(issuer, anchor.Cert, bundle)
	if err != nil {
		return nil, err
	}
	return &Standalone{Objects: objs, Issuer: issuer, Bundle: bundle}, nil
}
