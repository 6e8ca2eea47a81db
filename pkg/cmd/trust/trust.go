package trustcmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// env is what every trust command is given: the way to clusters, the streams, and the
// clock, which tests fix so that certificates and messages are the same on every run.
type env struct {
	factory cmdutil.Factory
	streams cmdutil.IOStreams
	now     func() time.Time
}

// NewCmdTrust returns `mesh trust` and its commands, reaching clusters through f.
func NewCmdTrust(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	return newCmdTrust(env{factory: f, streams: streams, now: time.Now})
}

func newCmdTrust(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Make the federation's trust anchor and each cluster's issuer, and check them",
		Long: `trust sets up the federation's PKI. One trust anchor (a root CA, kept offline) signs an
issuer (an intermediate CA) for every cluster; each cluster's identity service signs its
workloads' 24h certificates with its issuer, and each cluster trusts the anchors in its
trust bundle (the ConfigMap mesh-system/meshfed-trust-bundle). Workloads of two clusters
authenticate each other when each cluster's bundle holds the anchor of the other's issuer.

Each cluster has a trust domain of its own, <cluster>.meshfed.local, so that the
identities spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> of two clusters
never collide.

With --cert-manager, cert-manager holds the anchor (a CA ClusterIssuer) and renews each
cluster's issuer every 23h; without it, 'mesh trust cluster' makes the issuer here, for
--issuer-validity, and is run again to renew it.`,
		Example: `  # Make the anchor once; keep anchor/ca.key secret and offline
  mesh trust anchor --out ./anchor

  # Give west and east their issuers through cert-manager
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager | kubectl --context west apply -f -
  mesh trust cluster --anchor ./anchor --cluster east --cert-manager | kubectl --context east apply -f -

  # Check that each trusts the other's issuer
  mesh trust verify --context west --context east

  # Move to a new anchor with no outage: see
  mesh trust rotate-anchor --help`,
		Args: cmdutil.UnknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCmdAnchor(e),
		newCmdCluster(e),
		newCmdVerify(e),
		newCmdRotateAnchor(e),
	)
	return cmd
}
