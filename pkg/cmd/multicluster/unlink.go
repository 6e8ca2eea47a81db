package multicluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

// UnlinkOptions are the options of `mesh multicluster unlink`.
type UnlinkOptions struct {
	ClusterName string

	factory cmdutil.Factory
	cmdutil.IOStreams
}

func newCmdUnlink(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	o := &UnlinkOptions{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "unlink --cluster-name NAME",
		Short: "Print what to delete to stop mirroring a cluster, mirrors included",
		Long: `unlink runs against the cluster that mirrors another (say west) and prints, for
kubectl delete -f -, everything the link to that cluster (say east) made there: the Link,
its credentials Secret, and every mirror Service and EndpointSlice of east's exports.

Delete with --ignore-not-found: the link controller may remove some mirrors itself once the
Link is gone. Nothing changes in east. To revoke the credentials west held there: if east
made them for west alone ('mesh multicluster allow --peer west', then 'link --peer west'),
delete what allow printed, in east; if west had the token every peer shares, delete east's
Secret mesh-multicluster/remote-reader-token and install again, then link anew the clusters
that should keep mirroring east.`,
		Example: `  # Stop mirroring east in west
  mesh --context west multicluster unlink --cluster-name east | kubectl --context west delete --ignore-not-found -f -

  # Then revoke, in east, the credentials east made for west alone
  mesh --context east multicluster allow --peer west | kubectl --context east delete --ignore-not-found -f -

  # See what would be deleted
  mesh --context west multicluster unlink --cluster-name east`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.ClusterName, "cluster-name", "", "the name of the linked cluster, as given to link --cluster-name")
	return cmd
}

// Validate checks the flags.
func (o *UnlinkOptions) Validate() error {
	return validateClusterName(o.ClusterName)
}

// Run finds the Link, its Secret and its mirrors and prints them.
func (o *UnlinkOptions) Run(ctx context.Context) error {
	c, err := cmdutil.LocalClients(o.factory)
	if err != nil {
		return err
	}
	u, err := c.Dynamic.Resource(linksGVR).Namespace(Namespace).Get(ctx, o.ClusterName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no Link %s in namespace %s of this cluster (%s): 'kubectl -n %s get links' lists the linked clusters; run unlink against the cluster that mirrors %s", o.ClusterName, Namespace, c.Host, Namespace, o.ClusterName)
	}
	if err != nil {
		return fmt.Errorf("reading the Link %s/%s: %w", Namespace, o.ClusterName, err)
	}
	var link mcv1alpha1.Link
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &link); err != nil {
		return fmt.Errorf("the Link %s/%s: %w", Namespace, o.ClusterName, err)
	}

	objs := []runtime.Object{ref(mcv1alpha1.GroupVersion.String(), "Link", link.Namespace, link.Name)}
	if name := link.Spec.CredentialsSecret; name != "" {
		_, err := c.Kube.CoreV1().Secrets(link.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(o.ErrOut, "Note: the Link's credentials Secret %s/%s does not exist.\n", link.Namespace, name)
		case err != nil:
			return fmt.Errorf("reading the Link's credentials Secret %s/%s: %w", link.Namespace, name, err)
		default:
			objs = append(objs, ref("v1", "Secret", link.Namespace, name))
		}
	}

	cluster := link.Spec.TargetClusterName
	if cluster == "" {
		cluster = link.Name
	}
	sel := labels.Set{
		mcv1alpha1.LabelClusterName: cluster,
		mcv1alpha1.LabelLink:        linkLabelValue(link.Namespace, link.Name),
	}.String()
	svcs, err := c.Kube.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing the mirror Services (%s): %w", sel, err)
	}
	var services, endpointSlices []*metav1.PartialObjectMetadata
	for _, s := range svcs.Items {
		services = append(services, ref("v1", "Service", s.Namespace, s.Name))
	}
	eps, err := c.Kube.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing the mirror EndpointSlices (%s): %w", sel, err)
	}
	for _, s := range eps.Items {
		endpointSlices = append(endpointSlices, ref("discovery.k8s.io/v1", "EndpointSlice", s.Namespace, s.Name))
	}
	for _, list := range [][]*metav1.PartialObjectMetadata{services, endpointSlices} {
		slices.SortFunc(list, byNamespaceName)
		for _, m := range list {
			objs = append(objs, m)
		}
	}
	return cmdutil.PrintYAML(o.Out, objs...)
}

// ref is an object named for kubectl delete: its kind, namespace and name only.
func ref(apiVersion, kind, namespace, name string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
	}
}

func byNamespaceName(a, b *metav1.PartialObjectMetadata) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
