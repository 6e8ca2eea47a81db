package trustcmd

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/certmanager"
)

// The steps of a rotation, in order.
const (
	stepBundle  = "bundle"
	stepReissue = "reissue"
	stepDrop    = "drop"
)

// RotateOptions are the options of `mesh trust rotate-anchor`.
type RotateOptions struct {
	OldDir  string
	NewDir  string
	Cluster string
	Step    string
	ModeOptions

	env
}

func newCmdRotateAnchor(e env) *cobra.Command {
	o := &RotateOptions{env: e}
	cmd := &cobra.Command{
		Use:   "rotate-anchor --old DIR --new DIR --cluster NAME --step bundle|reissue|drop",
		Short: "Move the federation to a new trust anchor with no outage, one step at a time",
		Long: `rotate-anchor prints, one step at a time, what moves a cluster from the anchor in --old to
the one in --new, for kubectl apply -f -; on stderr it says what the step does, what to
check before the next, and the next command. Make the new anchor first with
'mesh trust anchor --out DIR'. The old anchor's key is never needed.

Run each step for every cluster of the federation before any cluster takes the next:
a cluster must trust the new anchor before any other cluster's issuer uses it.

  1. --step bundle: every cluster's trust bundle holds both anchors. Nothing is signed
     by the new one yet. Check that every bundle holds the new anchor:
       mesh trust verify --context west --context east --require-anchor NEW/ca.crt

  2. --step reissue: every cluster's issuer is signed by the new anchor; the bundle
     keeps both until every leaf of the old issuer is replaced.
     With --cert-manager the anchor Secret is replaced by the new anchor, and
     cert-manager signs the next issuer with it: within 23h, or at once with
       cmctl renew -n mesh-system meshfed-identity-issuer
     (or kubectl -n mesh-system delete secret meshfed-identity-issuer).
     Without, the issuer Secret is replaced by a new issuer made here.
     Check that every issuer chains to the new anchor:
       mesh trust verify --context west --context east --require-issuer-anchor NEW/ca.crt
     Proxies, gateways and destination services renew their leaves within seconds of
     their cluster's new issuer, with no restart (the identity service streams it). Wait
     until every one shows a leaf of the new anchor: on each part's /metrics,
       meshfed_identity_leaf_info{anchor="<the new anchor's fingerprint, as printed>"}

  3. --step drop: every cluster's bundle holds the new anchor only. Then
       mesh trust verify --context west --context east --require-issuer-anchor NEW/ca.crt
     and destroy the old anchor's key.`,
		Example: `  # Make the new anchor
  mesh trust anchor --out ./anchor-2031

  # Step 1, for every cluster
  mesh trust rotate-anchor --old ./anchor --new ./anchor-2031 --cluster west --step bundle | kubectl --context west apply -f -
  mesh trust rotate-anchor --old ./anchor --new ./anchor-2031 --cluster east --step bundle | kubectl --context east apply -f -

  # Step 2, for every cluster, through cert-manager
  mesh trust rotate-anchor --old ./anchor --new ./anchor-2031 --cluster west --cert-manager --step reissue | kubectl --context west apply -f -

  # Step 3, for every cluster
  mesh trust rotate-anchor --old ./anchor --new ./anchor-2031 --cluster west --step drop | kubectl --context west apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.complete(cmd)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.OldDir, "old", "", "folder of the anchor in use: its ca.crt is read, never its key")
	cmd.Flags().StringVar(&o.NewDir, "new", "", "folder of the new anchor, as 'mesh trust anchor --out' wrote it: ca.crt, and ca.key for --step reissue")
	cmd.Flags().StringVar(&o.Cluster, "cluster", "", "the cluster's name, a DNS label such as west")
	cmd.Flags().StringVar(&o.Step, "step", "", "the step to print: bundle, reissue or drop, in that order")
	o.addFlags(cmd)
	return cmd
}

// Validate checks the flags.
func (o *RotateOptions) Validate() error {
	switch {
	case o.OldDir == "":
		return errors.New("--old is required: give the folder of the anchor in use, such as --old ./anchor")
	case o.NewDir == "":
		return errors.New("--new is required: give the folder of the new anchor; make one with 'mesh trust anchor --out ./anchor-new'")
	}
	switch o.Step {
	case stepBundle, stepReissue, stepDrop:
	case "":
		return errors.New("--step is required: bundle, then reissue, then drop; 'mesh trust rotate-anchor --help' walks through them")
	default:
		return fmt.Errorf("--step %q is not a step: give bundle, reissue or drop, in that order", o.Step)
	}
	if err := validateCluster("--cluster", o.Cluster); err != nil {
		return err
	}
	return o.validate()
}

// Run prints the step's objects, and on stderr what it does and what comes next.
func (o *RotateOptions) Run() error {
	old, _, err := readAnchorCert("--old", o.OldDir)
	if err != nil {
		return err
	}
	next, _, err := readAnchorCert("--new", o.NewDir)
	if err != nil {
		return err
	}
	if bytes.Equal(old.Raw, next.Raw) {
		return fmt.Errorf("--old %s and --new %s hold the same anchor %s: give the new one with --new", o.OldDir, o.NewDir, describeCert(old))
	}
	both := trust.NewBundle(old, next)
	var (
		objs  []runtime.Object
		guide string
	)
	switch o.Step {
	case stepBundle:
		objs, err = bundleObjects(both)
		guide = o.bundleGuide(old, next)
	case stepReissue:
		objs, guide, err = o.reissue(both)
	case stepDrop:
		objs, err = bundleObjects(trust.NewBundle(next))
		guide = o.dropGuide(old, next)
	}
	if err != nil {
		return err
	}
	if err := cmdutil.PrintYAML(o.streams.Out, objs...); err != nil {
		return err
	}
	fmt.Fprint(o.streams.ErrOut, guide)
	return nil
}

func bundleObjects(b *trust.Bundle) ([]runtime.Object, error) {
	cm, err := certmanager.BundleConfigMap(b)
	if err != nil {
		return nil, err
	}
	return []runtime.Object{cm}, nil
}

// reissue is step 2: the issuer comes from the new anchor, and the bundle keeps both.
func (o *RotateOptions) reissue(both *trust.Bundle) ([]runtime.Object, string, error) {
	anchor, err := readAnchor("--new", o.NewDir)
	if err != nil {
		return nil, "", err
	}
	cm, err := certmanager.BundleConfigMap(both)
	if err != nil {
		return nil, "", err
	}
	if o.CertManager {
		secret, err := certmanager.AnchorSecret(anchor, o.CertManagerNamespace)
		if err != nil {
			return nil, "", err
		}
		return []runtime.Object{secret, cm}, o.reissueGuide(fmt.Sprintf(`The Secret %s/%s now holds the new anchor, so the ClusterIssuer
%s signs with it. cert-manager signs %s's next issuer with it at
the next renewal, within %s. To do it now:
  cmctl renew -n %s %s
or delete the issuer Secret, which cert-manager then makes anew:
  kubectl --context %s -n %s delete secret %s
The identity service picks up the new issuer with no restart.`,
			o.CertManagerNamespace, trust.AnchorSecretName, trust.AnchorIssuerName,
			o.Cluster, hours(trust.IssuerDuration-trust.IssuerRenewBefore),
			trust.Namespace, trust.IssuerCertificateName,
			o.Cluster, trust.Namespace, trust.IssuerSecretName), trust.Fingerprint(anchor.Cert)[:16]), nil
	}
	issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName(o.Cluster), o.IssuerValidity, o.now())
	if err != nil {
		return nil, "", fmt.Errorf("--new %s: %w", o.NewDir, err)
	}
	secret, err := certmanager.IssuerSecret(issuer, anchor.Cert)
	if err != nil {
		return nil, "", err
	}
	return []runtime.Object{secret, cm}, o.reissueGuide(fmt.Sprintf(`The Secret %s/%s now holds a new issuer %q,
signed by the new anchor and valid until %s. The identity service picks
it up with no restart.`,
		trust.Namespace, trust.IssuerSecretName, issuer.Cert.Subject.CommonName, date(issuer.Cert.NotAfter)), trust.Fingerprint(anchor.Cert)[:16]), nil
}

// command is this command with another step, for the guides' "next".
func (o *RotateOptions) command(step string) string {
	args := []string{"mesh trust rotate-anchor", "--old", o.OldDir, "--new", o.NewDir, "--cluster", o.Cluster}
	if o.CertManager {
		args = append(args, "--cert-manager")
		if o.CertManagerNamespace != trust.DefaultCertManagerNamespace {
			args = append(args, "--cert-manager-namespace", o.CertManagerNamespace)
		}
	}
	args = append(args, "--step", step)
	return strings.Join(args, " ") + " | kubectl --context " + o.Cluster + " apply -f -"
}

func (o *RotateOptions) newCert() string { return o.NewDir + "/" + anchorCertFile }

func (o *RotateOptions) bundleGuide(old, next *x509.Certificate) string {
	return fmt.Sprintf(`Step 1 of 3 (bundle) for %[1]s: the trust bundle %[2]s/%[3]s holds
the old anchor %[6]s
and the new one %[7]s,
so %[1]s accepts certificates of either. Nothing is signed by the new one yet.

Apply it to every cluster of the federation, each with its own --cluster, before any
cluster takes step 2. Then check that every cluster's bundle holds the new anchor:
  mesh trust verify --context %[1]s --context <every other cluster> --require-anchor %[4]s

Next, step 2, once every cluster has both anchors:
  %[5]s
`, o.Cluster, trust.Namespace, trust.BundleConfigMapName, o.newCert(), o.command(stepReissue), describeCert(old), describeCert(next))
}

// newID is the new anchor as metrics name it: the start of its fingerprint.
func (o *RotateOptions) reissueGuide(what, newID string) string {
	return fmt.Sprintf(`Step 2 of 3 (reissue) for %[1]s: %[1]s's issuer comes from the new anchor; the trust bundle
keeps both anchors until every leaf of the old issuer is replaced.
%[2]s

Apply it to every cluster of the federation, each with its own --cluster. Before step 3,
check that every cluster's issuer chains to the new anchor:
  mesh trust verify --context %[1]s --context <every other cluster> --require-issuer-anchor %[3]s
Proxies, gateways and destination services renew their leaves within seconds of a new
issuer, with no restart. Then check that every one holds a leaf of the new anchor: each
part's /metrics shows meshfed_identity_leaf_info{anchor="%[5]s"}.

Next, step 3:
  %[4]s
`, o.Cluster, what, o.newCert(), o.command(stepDrop), newID)
}

func (o *RotateOptions) dropGuide(old, next *x509.Certificate) string {
	return fmt.Sprintf(`Step 3 of 3 (drop) for %[1]s: the trust bundle %[2]s/%[3]s holds
the new anchor %[8]s only;
certificates that chain to the old anchor %[9]s
are refused from now on.

Apply it to every cluster of the federation, each with its own --cluster, then check:
  mesh trust verify --context %[1]s --context <every other cluster> --require-issuer-anchor %[4]s

The rotation is done when every cluster passes: destroy the old anchor's key,
%[5]s/%[6]s%[7]s.
`, o.Cluster, trust.Namespace, trust.BundleConfigMapName, o.newCert(), o.OldDir, anchorKeyFile, o.dropCertManager(), describeCert(next), describeCert(old))
}

func (o *RotateOptions) dropCertManager() string {
	if !o.CertManager {
		return ""
	}
	return " (cert-manager holds the new anchor only since step 2)"
}
