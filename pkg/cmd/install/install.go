package install

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Options are the options of `mesh install`.
type Options struct {
	ClusterName string
	TrustDomain string
	Images      cmdutil.ImageFlags

	cmdutil.IOStreams
}

// NewCmdInstall returns `mesh install`.
func NewCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install --cluster-name NAME",
		Short: "Print a cluster's control plane, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, the control plane of one cluster:

  - the policy CRDs (policy.meshfed.io: Server, AuthorizationPolicy,
    MeshTLSAuthentication, NetworkAuthentication);
  - the namespace mesh-system;
  - the identity service (Deployment and Service meshfed-identity, gRPC on 8080), which
    signs a leaf certificate for each workload's ServiceAccount, with its least-privilege
    RBAC: create TokenReviews, read its issuer Secret and nothing else.
  - the proxy injector (Deployment and Service meshfed-injector, HTTPS on 8443), the
    admission webhook that adds the proxy to pods with meshfed.io/inject: enabled (on the
    pod or its namespace), its MutatingWebhookConfiguration, and its serving certificate
    from cert-manager (a CA Issuer of its own in mesh-system), with its least-privilege
    RBAC: watch namespaces, read the trust bundle ConfigMap and its own Secret.

The identity service signs with the issuer Secret meshfed-identity-issuer in mesh-system:
apply 'mesh trust cluster' first, or the service waits, not ready, until it exists; so
does the injector for the trust bundle. The injector needs cert-manager. Each
cluster has its own name and trust domain (<cluster>.meshfed.local by default): a
workload's identity is spiffe://<trust domain>/ns/<namespace>/sa/<service account>.

It reads no cluster.`,
		Example: `  # Trust first, then the control plane, in the cluster west
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager | kubectl --context west apply -f -
  mesh install --cluster-name west | kubectl --context west apply -f -

  # From your own registry
  mesh install --cluster-name west --registry registry.example.com/meshfed --version v0.1.0`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.ClusterName, "cluster-name", "", "the name the federation knows this cluster by, such as west (required)")
	cmd.Flags().StringVar(&o.TrustDomain, "trust-domain", "", "the cluster's trust domain (default <cluster-name>.meshfed.local); the same as given to 'mesh trust cluster'")
	o.Images.AddFlags(cmd.Flags(), "the control plane's images")
	return cmd
}

// Complete fills the trust domain from the cluster name.
func (o *Options) Complete() error {
	if o.TrustDomain == "" && o.ClusterName != "" {
		o.TrustDomain = trust.DefaultTrustDomain(o.ClusterName)
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.ClusterName == "" {
		return fmt.Errorf("--cluster-name is required: the name the federation knows this cluster by, such as west")
	}
	if err := trust.ValidateClusterName(o.ClusterName); err != nil {
		return fmt.Errorf("--cluster-name: %w", err)
	}
	if err := trust.ValidateTrustDomain(o.TrustDomain); err != nil {
		return fmt.Errorf("--trust-domain: %w", err)
	}
	return o.Images.Validate("controller", "proxy")
}

// Run prints the manifests.
func (o *Options) Run() error {
	manifests, err := deploy.ControlPlane(deploy.ControlPlaneValues{
		Registry: o.Images.Registry, Version: o.Images.Version, TrustDomain: o.TrustDomain,
	})
	if err != nil {
		return err
	}
	n := 0
	for _, m := range append(deploy.PolicyCRDs(), manifests...) {
		docs, err := cmdutil.DecodeDocuments(m.Data)
		if err != nil {
			return fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		for _, u := range docs {
			if err := cmdutil.PrintYAMLMap(o.Out, u.Object, n > 0); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}
