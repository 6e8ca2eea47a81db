package multicluster

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
)

// InstallOptions are the options of `mesh multicluster install`.
type InstallOptions struct {
	ClusterName        string
	TrustDomain        string
	Gateway            bool
	GatewayServiceType string
	AllowClusters      []string
	ClusterSetIPRange  string
	Images             cmdutil.ImageFlags

	values installValues // set by Complete
	cmdutil.IOStreams
}

// installValues are what install writes into the manifests of deploy/multicluster.
type installValues struct {
	linkImage, gatewayImage string
	gateway                 bool
	clusterName             string
	trustDomain             string
	serviceType             corev1.ServiceType
	// allowed are the gateway's --allow-cluster arguments, NAME=TRUST-DOMAIN.
	allowed []string
	// clusterSetIPRange is the CIDR of the ServiceCIDR of ClusterSetIPs; empty: none.
	clusterSetIPRange string
}

func newCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &InstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install --cluster-name NAME [--allow-clusters NAME,...]",
		Short: "Print the multicluster components of a cluster, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, what every cluster of a federation runs:

  - the Link CRD (links.multicluster.meshfed.io);
  - the namespace mesh-multicluster;
  - the link controller (Deployment link-controller) and its least-privilege RBAC;
  - the range of this cluster's ClusterSetIPs: a ServiceCIDR (networking.k8s.io/v1,
    Kubernetes 1.33+) meshfed-clusterset of --clusterset-ip-range, from which the link
    controller gives each ServiceImport its address;
  - the remote reader: a ServiceAccount other clusters read this one as, allowed to get,
    list and watch Services, Pods, EndpointSlices and ServiceExports and nothing else, and
    a Secret holding its long-lived token (remote-reader-token);
  - the east-west gateway (Deployment and Service mesh-gateway, port 4143, and 7946 for
    gossip), through which other clusters' proxies reach this one's services. The Service is
    a LoadBalancer unless --gateway-service-type NodePort. The gateway admits only proxies
    whose certificate chains to the federation's anchor and names a cluster of
    --allow-clusters, and it never decrypts their traffic: each runs its own mTLS session
    with the service's proxy inside the gateway's. Its only RBAC reads the trust bundle.

Apply it after 'mesh install' (the gateway gets its certificate from the identity service
and its endpoints from the destination service). It reads no cluster: apply its output to
each cluster of the federation, then join them with 'mesh multicluster link'.`,
		Example: `  # east serves west through its gateway; west mirrors east
  mesh multicluster install --cluster-name east --allow-clusters west | kubectl --context east apply -f -
  mesh multicluster install --cluster-name west | kubectl --context west apply -f -

  # A cluster with a trust domain of its own, reached at its nodes' addresses
  mesh multicluster install --cluster-name east --trust-domain east.example.org \
    --allow-clusters west,north=north.example.org --gateway-service-type NodePort

  # ClusterSetIPs from a range of your network's plan
  mesh multicluster install --cluster-name east --clusterset-ip-range 10.255.0.0/20

  # Mirror only, no gateway (no other cluster calls this one)
  mesh multicluster install --gateway=false

  # Run the link controller and gateway from your own registry
  mesh multicluster install --cluster-name east --registry registry.example.com/meshfed --version v0.1.0 | kubectl apply -f -`,
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
	fl.StringVar(&o.ClusterName, "cluster-name", "", "the name the federation knows this cluster by, as given to 'mesh install' (required with the gateway)")
	fl.StringVar(&o.TrustDomain, "trust-domain", "", "this cluster's trust domain, as given to 'mesh install' (default <cluster-name>.meshfed.local)")
	fl.BoolVar(&o.Gateway, "gateway", true, "include the east-west gateway; without it other clusters cannot reach this one's services")
	fl.StringVar(&o.GatewayServiceType, "gateway-service-type", string(corev1.ServiceTypeLoadBalancer), "type of the gateway's Service: LoadBalancer, or NodePort where the clusters reach each other's nodes")
	fl.StringSliceVar(&o.AllowClusters, "allow-clusters", nil, "comma-separated clusters whose proxies may call through the gateway: NAME (trust domain NAME.meshfed.local) or NAME=TRUST-DOMAIN (default: none)")
	fl.StringVar(&o.ClusterSetIPRange, "clusterset-ip-range", deploy.DefaultClusterSetIPRange, `the CIDR of this cluster's ClusterSetIPs, made the ServiceCIDR meshfed-clusterset. Choose one
used nowhere else in the cluster's network: not its pod, service or node ranges, nor addresses
its pods reach outside the cluster (a ClusterSetIP would hide them), with room for every
clusterset service imported here and more (the apiserver may give some of its addresses to
ordinary Services). Clusters may share one: a ClusterSetIP means something only in its
cluster. It cannot change once applied (label another ServiceCIDR to add room). Empty: none,
for a cluster before Kubernetes 1.33, whose ClusterSetIPs then come from its service range`)
	o.Images.AddFlags(fl, "the link controller's and gateway's images")
	return cmd
}

// Complete makes the images and the gateway's arguments from the flags.
func (o *InstallOptions) Complete() error {
	o.values = installValues{
		linkImage:    o.Images.Image("link"),
		gatewayImage: o.Images.Image("gateway"),
		gateway:      o.Gateway,
		clusterName:  o.ClusterName,
		trustDomain:  o.TrustDomain,
		serviceType:  corev1.ServiceType(o.GatewayServiceType),
		// The canonical form, which is what the apiserver keeps.
		clusterSetIPRange: strings.TrimSpace(o.ClusterSetIPRange),
	}
	if p, err := netip.ParsePrefix(o.values.clusterSetIPRange); err == nil {
		o.values.clusterSetIPRange = p.String()
	}
	if o.values.trustDomain == "" && o.ClusterName != "" {
		o.values.trustDomain = trust.DefaultTrustDomain(o.ClusterName)
	}
	for _, a := range o.AllowClusters {
		name, td, ok := strings.Cut(a, "=")
		if !ok {
			td = trust.DefaultTrustDomain(name)
		}
		o.values.allowed = append(o.values.allowed, name+"="+td)
	}
	return nil
}

// Validate checks the flags.
func (o *InstallOptions) Validate() error {
	if err := o.Images.Validate("link", "gateway"); err != nil {
		return err
	}
	if err := validateClusterSetIPRange(o.values.clusterSetIPRange); err != nil {
		return err
	}
	if !o.Gateway {
		if o.ClusterName != "" || len(o.AllowClusters) > 0 {
			return errors.New("--cluster-name and --allow-clusters configure the gateway, and --gateway=false leaves it out: drop one or the other")
		}
		return nil
	}
	if err := validateClusterName(o.ClusterName); err != nil {
		return fmt.Errorf("%w (or --gateway=false for a cluster no other cluster calls)", err)
	}
	if err := trust.ValidateTrustDomain(o.values.trustDomain); err != nil {
		return fmt.Errorf("--trust-domain: %w", err)
	}
	switch o.values.serviceType {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
	default:
		return fmt.Errorf("--gateway-service-type %q: use LoadBalancer, or NodePort where the clusters reach each other's nodes", o.GatewayServiceType)
	}
	seen := map[string]bool{}
	for i, a := range o.values.allowed {
		name, td, _ := strings.Cut(a, "=")
		if err := validateClusterName(name); err != nil {
			return fmt.Errorf("--allow-clusters %q: %w", o.AllowClusters[i], err)
		}
		if err := trust.ValidateTrustDomain(td); err != nil {
			return fmt.Errorf("--allow-clusters %q: the trust domain: %w", o.AllowClusters[i], err)
		}
		if name == o.ClusterName {
			return fmt.Errorf("--allow-clusters names %s, this cluster: its own proxies reach its services directly, not through the gateway", name)
		}
		if seen[name] {
			return fmt.Errorf("--allow-clusters names %s twice", name)
		}
		seen[name] = true
	}
	return nil
}

// validateClusterSetIPRange checks --clusterset-ip-range: a CIDR, written as its network
// (the apiserver refuses a ServiceCIDR with host bits), of at least two addresses.
func validateClusterSetIPRange(cidr string) error {
	if cidr == "" {
		return nil
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("--clusterset-ip-range %q is not a CIDR: write it as 198.19.128.0/20 or fd00:10:96::/112", cidr)
	}
	if p != p.Masked() {
		return fmt.Errorf("--clusterset-ip-range %s has host bits set: write its network, %s", p, p.Masked())
	}
	if p.Bits() > p.Addr().BitLen()-2 {
		return fmt.Errorf("--clusterset-ip-range %s holds no address a Service can have: give a /%d or wider", p, p.Addr().BitLen()-2)
	}
	return nil
}

// Run prints the manifests.
func (o *InstallOptions) Run() error {
	objs, err := installObjects(o.values)
	if err != nil {
		return err
	}
	for i, u := range objs {
		if err := cmdutil.PrintYAMLMap(o.Out, u.Object, i > 0); err != nil {
			return err
		}
	}
	return nil
}

// installObjects returns the objects install prints, in the order to apply them, with v
// written in.
func installObjects(v installValues) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, m := range append(deploy.MulticlusterCRDs(), deploy.Multicluster()...) {
		docs, err := cmdutil.DecodeDocuments(m.Data)
		if err != nil {
			return nil, fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		for _, u := range docs {
			if !v.gateway && u.GetLabels()["app.kubernetes.io/name"] == GatewayServiceName {
				continue
			}
			if u.GetKind() == "ServiceCIDR" {
				if v.clusterSetIPRange == "" {
					continue
				}
				if err := unstructured.SetNestedStringSlice(u.Object, []string{v.clusterSetIPRange}, "spec", "cidrs"); err != nil {
					return nil, fmt.Errorf("deploy/%s: ServiceCIDR %s: %w", m.Path, u.GetName(), err)
				}
			}
			objs = append(objs, u)
		}
	}
	if err := setContainer(objs, ControllerName, ControllerName, func(c map[string]any) error {
		c["image"] = v.linkImage
		return nil
	}); err != nil {
		return nil, err
	}
	if !v.gateway {
		return objs, nil
	}
	if err := setContainer(objs, GatewayServiceName, GatewayServiceName, func(c map[string]any) error {
		c["image"] = v.gatewayImage
		args, _, _ := unstructured.NestedStringSlice(c, "args")
		for _, a := range v.allowed {
			args = append(args, "--allow-cluster="+a)
		}
		if err := unstructured.SetNestedStringSlice(c, args, "args"); err != nil {
			return err
		}
		env, _, _ := unstructured.NestedSlice(c, "env")
		set := 0
		for _, e := range env {
			e, ok := e.(map[string]any)
			switch {
			case ok && e["name"] == "MESHFED_TRUST_DOMAIN":
				e["value"] = v.trustDomain
				set++
			case ok && e["name"] == "MESHFED_CLUSTER_NAME":
				e["value"] = v.clusterName
				set++
			}
		}
		if set != 2 {
			return errors.New("no env MESHFED_TRUST_DOMAIN and MESHFED_CLUSTER_NAME to set")
		}
		return unstructured.SetNestedSlice(c, env, "env")
	}); err != nil {
		return nil, err
	}
	for _, u := range objs {
		if u.GetKind() == "Service" && u.GetName() == GatewayServiceName {
			if err := unstructured.SetNestedField(u.Object, string(v.serviceType), "spec", "type"); err != nil {
				return nil, fmt.Errorf("deploy: Service %s: %w", GatewayServiceName, err)
			}
		}
	}
	return objs, nil
}

// setContainer calls set on the container of the Deployment deployment named container,
// which must be there exactly once.
func setContainer(objs []*unstructured.Unstructured, deployment, container string, set func(map[string]any) error) error {
	found := 0
	for _, u := range objs {
		if u.GetKind() != "Deployment" || u.GetName() != deployment {
			continue
		}
		containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if err != nil {
			return fmt.Errorf("deploy: Deployment %s: %w", deployment, err)
		}
		for _, c := range containers {
			if c, ok := c.(map[string]any); ok && c["name"] == container {
				if err := set(c); err != nil {
					return fmt.Errorf("deploy: Deployment %s, container %s: %w", deployment, container, err)
				}
				found++
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			return fmt.Errorf("deploy: Deployment %s: %w", deployment, err)
		}
	}
	if found != 1 {
		return fmt.Errorf("deploy: found %d containers %s in a Deployment %s, want 1", found, container, deployment)
	}
	return nil
}
