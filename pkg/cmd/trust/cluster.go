package trustcmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/certmanager"
)

// ClusterOptions are the options of `mesh trust cluster`.
type ClusterOptions struct {
	AnchorDir  string
	Cluster    string
	BundleFile string
	ModeOptions

	env
}

// ModeOptions choose between cert-manager and an issuer made here: cluster and
// rotate-anchor share them.
type ModeOptions struct {
	CertManager          bool
	CertManagerNamespace string
	IssuerValidity       time.Duration

	// which of the flags that apply to one mode only were given, set by complete.
	issuerValiditySet, cmNamespaceSet bool
}

// addFlags adds the mode's flags to cmd.
func (m *ModeOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&m.CertManager, "cert-manager", false, "let cert-manager hold the anchor and make and renew the issuer")
	cmd.Flags().StringVar(&m.CertManagerNamespace, "cert-manager-namespace", trust.DefaultCertManagerNamespace, "with --cert-manager: cert-manager's namespace, where its ClusterIssuers' Secrets live")
	cmd.Flags().DurationVar(&m.IssuerValidity, "issuer-validity", trust.DefaultIssuerValidity, "without --cert-manager: how long the issuer made here is valid")
}

// complete notes which flags were given: a flag of the other mode is a mistake to point
// out, not to ignore.
func (m *ModeOptions) complete(cmd *cobra.Command) {
	m.issuerValiditySet = cmd.Flags().Changed("issuer-validity")
	m.cmNamespaceSet = cmd.Flags().Changed("cert-manager-namespace")
}

// validate checks the mode's flags.
func (m *ModeOptions) validate() error {
	if m.CertManager {
		if m.issuerValiditySet {
			return fmt.Errorf("--issuer-validity applies without --cert-manager only: cert-manager makes issuers of %s and renews them %s before their end", hours(trust.IssuerDuration), hours(trust.IssuerRenewBefore))
		}
		return validateCertManagerNamespace(m.CertManagerNamespace)
	}
	if m.cmNamespaceSet {
		return errors.New("--cert-manager-namespace applies with --cert-manager only: pass --cert-manager too, or leave it out")
	}
	return validateValidity("--issuer-validity", m.IssuerValidity, "8760h (a year)")
}

func newCmdCluster(e env) *cobra.Command {
	o := &ClusterOptions{env: e}
	cmd := &cobra.Command{
		Use:   "cluster --anchor DIR --cluster NAME",
		Short: "Print a cluster's issuer and trust bundle, for kubectl apply",
		Long: `cluster prints, for kubectl apply -f -, what gives a cluster its issuer (an intermediate
CA signed by the anchor in --anchor) and its trust bundle. The output holds private keys:
pipe it to kubectl, do not keep it.

With --cert-manager (cert-manager must run in the cluster):
  - the Secret meshfed-trust-anchor in cert-manager's namespace: the anchor and its key;
  - the ClusterIssuer meshfed-trust-anchor, a CA issuer signing with that Secret;
  - the Certificate mesh-system/meshfed-identity-issuer, from which cert-manager makes the
    issuer Secret and renews it (a CA of 48h, renewed 25h before its end, a new key each
    time; the identity service reloads it with no restart);
  - the ConfigMap mesh-system/meshfed-trust-bundle.

Without it:
  - the Secret mesh-system/meshfed-identity-issuer: the issuer made here, valid for
    --issuer-validity (run this again, and apply it, to renew it);
  - the ConfigMap mesh-system/meshfed-trust-bundle.

The bundle holds the anchor of --anchor, and those of --bundle: during a rotation a
cluster trusts two anchors (see 'mesh trust rotate-anchor').`,
		Example: `  # Through cert-manager
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager | kubectl --context west apply -f -

  # Without cert-manager: an issuer valid 90 days
  mesh trust cluster --anchor ./anchor --cluster west --issuer-validity 2160h | kubectl --context west apply -f -

  # Trust a second anchor as well
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager --bundle ./anchor-2031/ca.crt | kubectl --context west apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.complete(cmd)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.AnchorDir, "anchor", "", "folder of the anchor: ca.crt and ca.key, as 'mesh trust anchor' wrote them")
	cmd.Flags().StringVar(&o.Cluster, "cluster", "", "the cluster's name, a DNS label such as west; its trust domain is <cluster>.meshfed.local")
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.BundleFile, "bundle", "", "PEM file of more anchors for the trust bundle to hold, besides --anchor's")
	return cmd
}

// Validate checks the flags.
func (o *ClusterOptions) Validate() error {
	if o.AnchorDir == "" {
		return errors.New("--anchor is required: give the folder 'mesh trust anchor --out' wrote, such as --anchor ./anchor")
	}
	if err := validateCluster("--cluster", o.Cluster); err != nil {
		return err
	}
	return o.validate()
}

// Run prints the objects, and on stderr what they are.
func (o *ClusterOptions) Run() error {
	var more *trust.Bundle
	if o.BundleFile != "" {
		var err error
		if more, err = readBundleFile("--bundle", o.BundleFile); err != nil {
			return err
		}
	}
	var (
		objs   []runtime.Object
		bundle *trust.Bundle
		what   string
		err    error
	)
	if o.CertManager {
		var anchor *trust.CA
		if anchor, err = readAnchor("--anchor", o.AnchorDir); err != nil {
			return err
		}
		bundle = trust.NewBundle(anchor.Cert)
		if more != nil {
			bundle = trust.NewBundle(append(bundle.Anchors(), more.Anchors()...)...)
		}
		objs, err = certmanager.CertManagerObjects(o.Cluster, anchor, bundle, o.CertManagerNamespace)
		what = fmt.Sprintf(`  - the Secret %s/%s: the anchor and its private key, for cert-manager;
  - the ClusterIssuer %s, which signs with it;
  - the Certificate %s/%s: from it cert-manager makes the issuer
    %q, and makes it anew every %s;
`, o.CertManagerNamespace, trust.AnchorSecretName, trust.AnchorIssuerName, trust.Namespace, trust.IssuerCertificateName,
			trust.IssuerCommonName(o.Cluster), hours(trust.IssuerDuration-trust.IssuerRenewBefore))
	} else {
		var s *Standalone
		if s, err = NewStandalone("--anchor", o.AnchorDir, o.Cluster, more, o.IssuerValidity, o.now()); err != nil {
			return err
		}
		objs, bundle = s.Objects, s.Bundle
		what = fmt.Sprintf("  - the Secret %s/%s: the issuer %q and its private key,\n    valid until %s;\n",
			trust.Namespace, trust.IssuerSecretName, s.Issuer.Cert.Subject.CommonName, date(s.Issuer.Cert.NotAfter))
		if want := o.now().Add(o.IssuerValidity); s.Issuer.Cert.NotAfter.Before(want) {
			what += fmt.Sprintf("    (not for --issuer-validity %s: no issuer outlives its anchor, which ends then)\n", o.IssuerValidity)
		}
	}
	if err != nil {
		return err
	}
	if err := cmdutil.PrintYAML(o.streams.Out, objs...); err != nil {
		return err
	}
	fmt.Fprintf(o.streams.ErrOut, `Printed for the cluster %s (trust domain %s), to pipe to kubectl apply -f -:
  - the namespace %s;
%s  - the ConfigMap %s/%s: the trust bundle, holding %s.
The output holds private keys: apply it, do not keep it.

Then check that the clusters trust each other:
  mesh trust verify --context %s --context <another cluster>
`, o.Cluster, trust.DefaultTrustDomain(o.Cluster), trust.Namespace, what,
		trust.Namespace, trust.BundleConfigMapName, describeBundle(bundle), o.Cluster)
	return nil
}
