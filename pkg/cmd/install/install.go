package install

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Options are the options of `mesh install`.
type Options struct {
	ClusterName string
	TrustDomain string
	CRDs        bool
	HA          bool
	Images      cmdutil.ImageFlags

	cmdutil.IOStreams
}

// NewCmdInstall returns `mesh install`.
func NewCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install --crds | --cluster-name NAME",
		Short: "Print a cluster's control plane, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, in two steps as the CRDs must be established
before what uses them:

--crds: the policy CRDs (policy.meshfed.io: Server, AuthorizationPolicy,
MeshTLSAuthentication, NetworkAuthentication).

Then, without --crds, the control plane of one cluster:

  - the namespace mesh-system;
  - the identity service (Deployment and Service meshfed-identity, gRPC on 8080), which
    signs a leaf certificate for each workload's ServiceAccount, with its least-privilege
    RBAC: create TokenReviews, read its issuer Secret and nothing else.
  - the proxy injector (Deployment and Service meshfed-injector, HTTPS on 8443), the
    admission webhook that adds the proxy to pods with meshfed.io/inject: enabled (on the
    pod or its namespace), its MutatingWebhookConfiguration, and its serving certificate
    from cert-manager (a CA Issuer of its own in mesh-system), with its least-privilege
    RBAC: watch namespaces, read the trust bundle ConfigMap and its own Secret.
  - the destination service (Deployment and Service meshfed-destination, gRPC on 8086),
    which tells proxies the endpoints, identities and policies of what they reach.

--ha runs three replicas of each, with PodDisruptionBudgets.

The identity service signs with the issuer Secret meshfed-identity-issuer in mesh-system:
apply 'mesh trust cluster' first, or the service waits, not ready, until it exists; so
does the injector for the trust bundle. The injector needs cert-manager. Each
cluster has its own name and trust domain (<cluster>.meshfed.local by default): a
workload's identity is spiffe://<trust domain>/ns/<namespace>/sa/<service account>.

It reads no cluster.`,
		Example: `  # Trust first, then the CRDs, then the control plane, in the cluster west
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager | kubectl --context west apply -f -
  mesh install --crds | kubectl --context west apply -f -
  mesh install --cluster-name west | kubectl --context west apply -f -
  mesh --context west check --wait 2m

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
	cmd.Flags().BoolVar(&o.CRDs, "crds", false, "print the CRDs only, to apply before the control plane")
	cmd.Flags().BoolVar(&o.HA, "ha", false, "three replicas of each control-plane server, with disruption budgets")
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
	if o.CRDs {
		if o.ClusterName != "" || o.HA {
			return fmt.Errorf("--crds prints the CRDs alone, the same for every cluster: run it without --cluster-name and --ha, then install again without --crds")
		}
		return nil
	}
	if o.ClusterName == "" {
		return fmt.Errorf("--cluster-name is required: the name the federation knows this cluster by, such as west (or --crds, for the CRDs first)")
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
	if o.CRDs {
		return printManifests(o.Out, deploy.PolicyCRDs(), false)
	}
	manifests, err := deploy.ControlPlane(deploy.ControlPlaneValues{
		Registry: o.Images.Registry, Version: o.Images.Version, TrustDomain: o.TrustDomain, HA: o.HA,
	})
	if err != nil {
		return err
	}
	return printManifests(o.Out, manifests, false)
}

// printManifests prints every document of manifests, whole, or only what kubectl delete
// needs of each (apiVersion, kind, name and namespace), in reverse order.
func printManifests(w io.Writer, manifests []deploy.Manifest, forDelete bool) error {
	var objs []map[string]any
	for _, m := range manifests {
		docs, err := cmdutil.DecodeDocuments(m.Data)
		if err != nil {
			return fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		for _, u := range docs {
			if !forDelete {
				objs = append(objs, u.Object)
				continue
			}
			md := map[string]any{"name": u.GetName()}
			if ns := u.GetNamespace(); ns != "" {
				md["namespace"] = ns
			}
			objs = append(objs, map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": md})
		}
	}
	if forDelete {
		slices.Reverse(objs)
	}
	for i, obj := range objs {
		if err := cmdutil.PrintYAMLMap(w, obj, i > 0); err != nil {
			return err
		}
	}
	return nil
}
