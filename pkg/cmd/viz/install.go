package viz

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/cmd/multicluster"
	"github.com/meshfed/meshfed/pkg/trust"
	vizapi "github.com/meshfed/meshfed/pkg/viz"
)

// DefaultPrometheusImage is Prometheus' official image, as `mesh viz install` runs it. The
// local clusters tag an image of theirs with this name.
const DefaultPrometheusImage = "prom/prometheus:v2.53.4"

// InstallOptions are the options of `mesh viz install`.
type InstallOptions struct {
	ClusterName     string
	TrustDomain     string
	ClusterDomain   string
	RemoteClusters  []string
	PrometheusImage string
	ScrapeInterval  time.Duration
	Retention       time.Duration
	Export          bool
	Images          cmdutil.ImageFlags

	values deploy.VizValues // set by Complete
	cmdutil.IOStreams
}

func newCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &InstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install --cluster-name NAME [--remote-clusters NAME,...]",
		Short: "Print one cluster's metrics stack: Prometheus and the viz API, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, the metrics stack of one cluster, in the namespace
mesh-viz:

  - Prometheus (Deployment and Service meshfed-prometheus, port 9090; the official image
    prom/prometheus unless --prometheus-image), scraping every meshed pod's proxy (the
    container port meshfed-admin, 4191), the east-west gateway and link controller in
    mesh-multicluster, and the control plane in mesh-system (ports named admin). Its RBAC
    is get, list and watch on pods, which Prometheus' pod discovery needs, and nothing
    else. It keeps --retention of samples, in an emptyDir: a restart starts afresh.
  - the viz API (Deployment and Service meshfed-viz, port 8084), which reads this
    cluster's Prometheus and, for each of --remote-clusters, that cluster's through its
    mirror meshfed-prometheus-<cluster>. It needs no RBAC.

With --export (the default) Prometheus is meshed and its Service exported
(mirror.meshfed.io/exported=true): the clusters linked to this one then read it through
its gateway, over mTLS. Install in every cluster of the federation, naming in each the
clusters it links to; mesh viz stat, edges, top and dashboard then show them all.

It reads no cluster. Apply it after 'mesh install' (the viz API and an exported Prometheus
are meshed) and, for --remote-clusters, after 'mesh multicluster link'.`,
		Example: `  # west links to east: west's viz API reads both
  mesh viz install --cluster-name east | kubectl --context east apply -f -
  mesh viz install --cluster-name west --remote-clusters east | kubectl --context west apply -f -
  mesh --context west viz stat deploy -n meshfed-demo

  # A remote cluster with a trust domain of its own, and a Prometheus from your registry
  mesh viz install --cluster-name west --remote-clusters east=east.example.org \
    --prometheus-image registry.example.com/prom/prometheus:v2.53.4`,
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
	fl := cmd.Flags()
	fl.StringVar(&o.ClusterName, "cluster-name", "", "the name the federation knows this cluster by, as given to 'mesh install' (required)")
	fl.StringVar(&o.TrustDomain, "trust-domain", "", "this cluster's trust domain (default <cluster-name>.meshfed.local)")
	fl.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "this cluster's DNS domain")
	fl.StringSliceVar(&o.RemoteClusters, "remote-clusters", nil, "comma-separated linked clusters whose Prometheus the viz API reads through their mirrors: NAME (trust domain NAME.meshfed.local) or NAME=TRUST-DOMAIN")
	fl.StringVar(&o.PrometheusImage, "prometheus-image", DefaultPrometheusImage, "Prometheus' image")
	fl.DurationVar(&o.ScrapeInterval, "scrape-interval", 10*time.Second, "how often Prometheus scrapes each target")
	fl.DurationVar(&o.Retention, "retention", 6*time.Hour, "how long Prometheus keeps samples")
	fl.BoolVar(&o.Export, "export", true, "mesh Prometheus and export its Service, so that linked clusters' viz APIs read it")
	o.Images.AddFlags(fl, "the viz API's image")
	return cmd
}

// Complete makes the manifests' values from the flags.
func (o *InstallOptions) Complete() error {
	o.values = deploy.VizValues{
		ClusterName:     o.ClusterName,
		ClusterDomain:   o.ClusterDomain,
		VizImage:        o.Images.Image("viz"),
		PrometheusImage: o.PrometheusImage,
		ScrapeInterval:  model.Duration(o.ScrapeInterval).String(),
		Retention:       model.Duration(o.Retention).String(),
		Export:          o.Export,
		Rules:           vizapi.RecordingRules(o.ScrapeInterval),
	}
	if o.TrustDomain != "" && o.TrustDomain != trust.DefaultTrustDomain(o.ClusterName) {
		o.values.TrustDomain = o.TrustDomain
	}
	for _, r := range o.RemoteClusters {
		n, td, ok := strings.Cut(r, "=")
		if !ok {
			td = trust.DefaultTrustDomain(n)
		}
		o.values.Remotes = append(o.values.Remotes, deploy.VizRemote{Name: n, TrustDomain: td})
	}
	return nil
}

// Validate checks the flags.
func (o *InstallOptions) Validate() error {
	if err := o.Images.Validate("viz"); err != nil {
		return err
	}
	if err := multicluster.ValidateClusterName(o.ClusterName); err != nil {
		return err
	}
	if o.TrustDomain != "" {
		if err := trust.ValidateTrustDomain(o.TrustDomain); err != nil {
			return fmt.Errorf("--trust-domain: %w", err)
		}
	}
	if err := multicluster.ValidateClusterDomain(o.ClusterDomain); err != nil {
		return err
	}
	if _, err := name.ParseReference(o.PrometheusImage); err != nil {
		return fmt.Errorf("--prometheus-image %q is not an image reference (%v): give one such as %s", o.PrometheusImage, err, DefaultPrometheusImage)
	}
	if o.ScrapeInterval < time.Second || o.ScrapeInterval > 5*time.Minute || o.ScrapeInterval%time.Second != 0 {
		return fmt.Errorf("--scrape-interval %s: use whole seconds from 1s to 5m, such as 10s", o.ScrapeInterval)
	}
	if o.Retention < 10*time.Minute || o.Retention%time.Minute != 0 {
		return fmt.Errorf("--retention %s: use whole minutes, 10m or more, such as 6h", o.Retention)
	}
	seen := map[string]bool{}
	for i, r := range o.values.Remotes {
		if err := multicluster.ValidateClusterName(r.Name); err != nil {
			return fmt.Errorf("--remote-clusters %q: %w", o.RemoteClusters[i], err)
		}
		if err := trust.ValidateTrustDomain(r.TrustDomain); err != nil {
			return fmt.Errorf("--remote-clusters %q: the trust domain: %w", o.RemoteClusters[i], err)
		}
		if r.Name == o.ClusterName {
			return fmt.Errorf("--remote-clusters names %s, this cluster: its own Prometheus is read anyway", r.Name)
		}
		if seen[r.Name] {
			return fmt.Errorf("--remote-clusters names %s twice", r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

// Run prints the manifests.
func (o *InstallOptions) Run() error {
	ms, err := deploy.Viz(o.values)
	if err != nil {
		return err
	}
	first := true
	for _, m := range ms {
		docs, err := cmdutil.DecodeDocuments(m.Data)
		if err != nil {
			return fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		for _, u := range docs {
			if err := cmdutil.PrintYAMLMap(o.Out, u.Object, !first); err != nil {
				return err
			}
			first = false
		}
	}
	return nil
}
