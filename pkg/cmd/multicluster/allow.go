package multicluster

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// LabelPeer marks what allow makes for one peer.
const LabelPeer = "multicluster.meshfed.io/peer"

// remoteReaderClusterRole is the read-only ClusterRole of deploy/multicluster.
const remoteReaderClusterRole = "meshfed-remote-reader"

// peerReaderName is the ServiceAccount a peer reads this cluster as, and peerTokenSecret the
// Secret of its token: the shared ones without a peer.
func peerReaderName(peer string) string {
	if peer == "" {
		return RemoteReaderName
	}
	return RemoteReaderName + "-" + peer
}

func peerTokenSecret(peer string) string {
	if peer == "" {
		return RemoteReaderTokenSecret
	}
	return RemoteReaderTokenSecret + "-" + peer
}

// AllowOptions are the options of `mesh multicluster allow`.
type AllowOptions struct {
	Peer string
	cmdutil.IOStreams
}

func newCmdAllow(streams cmdutil.IOStreams) *cobra.Command {
	o := &AllowOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "allow --peer NAME",
		Short: "Print read-only credentials of this cluster for one peer alone, so they can be revoked alone",
		Long: `allow runs against a cluster others link to (say east) and prints, for kubectl apply -f -
there, what one peer (say west) reads it as: a ServiceAccount remote-reader-<peer> in
mesh-multicluster bound to the read-only ClusterRole meshfed-remote-reader (get, list and
watch Services, Pods, EndpointSlices and ServiceExports; nothing else), and a Secret
remote-reader-token-<peer> that the token controller fills with its token.

'mesh multicluster link --peer <peer>' then hands the peer that token instead of the one
every peer shares, and deleting what allow printed revokes that peer's access, and that
peer's only, at once: the token controller invalidates the token with its Secret. Delete
with --ignore-not-found: the token controller deletes the Secret with its ServiceAccount.`,
		Example: `  # Credentials of east for west alone, then the Link west applies
  mesh --context east multicluster allow --peer west | kubectl --context east apply -f -
  mesh --context east multicluster link --cluster-name east --peer west | kubectl --context west apply -f -

  # Unlink, and revoke west's credentials in east
  mesh --context west multicluster unlink --cluster-name east | kubectl --context west delete --ignore-not-found -f -
  mesh --context east multicluster allow --peer west | kubectl --context east delete --ignore-not-found -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Peer, "peer", "", "the name of the cluster that will read this one, as it names itself")
	return cmd
}

// Validate checks the flags.
func (o *AllowOptions) Validate() error {
	if o.Peer == "" {
		return fmt.Errorf("--peer is required: the name of the cluster that will link to this one, such as --peer west")
	}
	if err := validateClusterName(o.Peer); err != nil {
		return fmt.Errorf("--peer: %w", err)
	}
	return nil
}

// Run prints the peer's ServiceAccount, its binding and its token Secret.
func (o *AllowOptions) Run(context.Context) error {
	return cmdutil.PrintYAML(o.Out, peerReader(o.Peer)...)
}

func peerReader(peer string) []runtime.Object {
	name := peerReaderName(peer)
	labels := map[string]string{
		"app.kubernetes.io/name":    RemoteReaderName,
		"app.kubernetes.io/part-of": "meshfed",
		LabelPeer:                   peer,
	}
	return []runtime.Object{
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: labels},
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: remoteReaderClusterRole + "-" + peer, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: remoteReaderClusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: Namespace}},
		},
		&corev1.Secret{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: peerTokenSecret(peer), Namespace: Namespace, Labels: labels,
				Annotations: map[string]string{corev1.ServiceAccountNameKey: name}},
			Type: corev1.SecretTypeServiceAccountToken,
		},
	}
}
