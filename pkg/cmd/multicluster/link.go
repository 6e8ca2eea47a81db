package multicluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
)

// LinkOptions are the options of `mesh multicluster link`.
type LinkOptions struct {
	ClusterName             string
	ClusterDomain           string
	APIServerAddress        string
	GatewayAddresses        []string
	GatewayPort             int
	GatewayIdentity         string
	TrustDomain             string
	Peer                    string
	GatewayProbe            bool
	Selector                string
	CreateMissingNamespaces bool

	// Set by Complete.
	gatewayAddressesSet bool
	gatewayPortSet      bool
	selector            *metav1.LabelSelector

	factory cmdutil.Factory
	cmdutil.IOStreams
}

func newCmdLink(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	o := &LinkOptions{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "link [--cluster-name NAME]",
		Short: "Print what another cluster applies to mirror this one's exported services",
		Long: `link runs against the cluster to be mirrored (say east) and prints, for kubectl apply -f -
in the cluster that mirrors it (say west):

  - a Secret cluster-credentials-<name> in mesh-multicluster holding a kubeconfig that
    reaches this cluster as its read-only ServiceAccount remote-reader, with the token of
    the Secret remote-reader-token: never your own credentials. With --peer, as the
    ServiceAccount remote-reader-<peer> that 'mesh multicluster allow' made for that peer
    alone, whose access deleting it revokes;
  - a Link named <name> that tells west's link controller to mirror what this cluster
    exports, through its east-west gateway.

The cluster's name is the one its ClusterProperty cluster.clusterset.k8s.io holds (KEP-2149;
'mesh install --cluster-name' writes it), else --cluster-name's; given both, they must agree.

The API server's address is the one your kubeconfig uses, unless --api-server-address says
how the other cluster reaches it. The gateway's addresses and port come from the Service
mesh-gateway in mesh-multicluster (its LoadBalancer addresses, its port named mesh-gateway),
unless --gateway-addresses and --gateway-port are given; they must be when there is no such
Service.

This cluster must have the multicluster components: mesh multicluster install | kubectl apply -f -`,
		Example: `  # Let west mirror east
  mesh --context east multicluster link --cluster-name east | kubectl --context west apply -f -

  # The API server and the gateway are reached at other addresses from west
  mesh --context east multicluster link --cluster-name east \
    --api-server-address https://198.18.0.2:6443 \
    --gateway-addresses 198.18.0.100 --gateway-port 4143 | kubectl --context west apply -f -

  # West gets credentials of its own, which east can revoke alone
  mesh --context east multicluster allow --peer west | kubectl --context east apply -f -
  mesh --context east multicluster link --cluster-name east --peer west | kubectl --context west apply -f -

  # Mirror only the exported Services labelled tier=front, creating their namespaces in west
  mesh --context east multicluster link --cluster-name east \
    --selector tier=front --create-missing-namespaces | kubectl --context west apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.ClusterName, "cluster-name", "", "this cluster's name in the federation: the Link's name and the suffix of its mirrors (<service>-<name>); a DNS label of at most 32 characters (default: the one its ClusterProperty cluster.clusterset.k8s.io holds)")
	fl.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "this cluster's DNS domain")
	fl.StringVar(&o.APIServerAddress, "api-server-address", "", "https://host:port at which the other cluster reaches this API server (default: the server of your kubeconfig)")
	fl.StringSliceVar(&o.GatewayAddresses, "gateway-addresses", nil, "comma-separated IPs or DNS names of this cluster's east-west gateway (default: the LoadBalancer addresses of the Service mesh-gateway)")
	fl.IntVar(&o.GatewayPort, "gateway-port", mcv1alpha1.DefaultGatewayPort, "port of this cluster's east-west gateway, when not given read from the port named mesh-gateway of the Service mesh-gateway")
	fl.StringVar(&o.GatewayIdentity, "gateway-identity", "", "identity this cluster's gateway presents, spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount> (default: the ServiceAccount "+GatewayServiceAccount+" in "+Namespace+" of --trust-domain)")
	fl.BoolVar(&o.GatewayProbe, "gateway-probe", true, "let the other cluster probe this cluster's gateway (GET /ready on the Service port mesh-probe, every 3s, dead after 3 failures) and take the mirrors' endpoints out while it fails")
	fl.StringVar(&o.TrustDomain, "trust-domain", "", "this cluster's trust domain, as given to 'mesh install' (default <cluster-name>.meshfed.local)")
	fl.StringVarP(&o.Selector, "selector", "l", "", "mirror only the exported Services this label selector selects, such as tier=front (default: every exported Service)")
	fl.StringVar(&o.Peer, "peer", "", "hand the other cluster the token of its own ServiceAccount, made with 'mesh multicluster allow --peer NAME', so that its access can be revoked alone (default: the token every linked cluster shares)")
	fl.BoolVar(&o.CreateMissingNamespaces, "create-missing-namespaces", false, "let the other cluster create the namespace of an export it lacks, instead of leaving that export unmirrored")
	return cmd
}

// Complete notes which flags were given and parses the selector.
func (o *LinkOptions) Complete(cmd *cobra.Command) error {
	o.gatewayAddressesSet = cmd.Flags().Changed("gateway-addresses")
	o.gatewayPortSet = cmd.Flags().Changed("gateway-port")
	sel, err := parseSelector(o.Selector)
	if err != nil {
		return err
	}
	o.selector = sel
	return nil
}

// Validate checks the flags. The cluster's name may come from the cluster itself: it is
// checked once read (see clusterName).
func (o *LinkOptions) Validate() error {
	if o.ClusterName != "" {
		if err := validateClusterName(o.ClusterName); err != nil {
			return err
		}
	}
	if err := validateClusterDomain(o.ClusterDomain); err != nil {
		return err
	}
	if o.APIServerAddress != "" {
		if err := validateAPIServerAddress("--api-server-address", o.APIServerAddress); err != nil {
			return err
		}
	}
	if o.gatewayAddressesSet {
		if len(o.GatewayAddresses) == 0 {
			return errors.New("--gateway-addresses is empty: give the gateway's addresses, such as --gateway-addresses 198.18.0.100, or leave the flag out to read them from the Service mesh-gateway")
		}
		if err := validateGatewayAddresses(o.GatewayAddresses); err != nil {
			return err
		}
	}
	if err := validatePort("--gateway-port", o.GatewayPort); err != nil {
		return err
	}
	if o.TrustDomain != "" {
		if err := trust.ValidateTrustDomain(o.TrustDomain); err != nil {
			return fmt.Errorf("--trust-domain: %w", err)
		}
	}
	if o.GatewayIdentity != "" {
		if err := validateIdentity(o.GatewayIdentity); err != nil {
			return err
		}
	}
	return nil
}

// gatewayIdentity is the identity the other cluster's proxies demand of this cluster's
// gateway: the flag's, else that of the ServiceAccount `mesh multicluster install` gives it.
func (o *LinkOptions) gatewayIdentity() string {
	if o.GatewayIdentity != "" {
		return o.GatewayIdentity
	}
	td := o.TrustDomain
	if td == "" {
		td = trust.DefaultTrustDomain(o.ClusterName)
	}
	return trust.ID{TrustDomain: td, Namespace: Namespace, ServiceAccount: GatewayServiceAccount}.String()
}

// probe is the Link's probe of the gateway at port, with Linkerd's defaults: the fallback
// where gossip between gateways cannot flow.
func (o *LinkOptions) probe(port int32) *mcv1alpha1.ProbeSpec {
	if !o.GatewayProbe {
		return nil
	}
	return &mcv1alpha1.ProbeSpec{Path: "/ready", Port: port, Period: metav1.Duration{Duration: 3 * time.Second}, FailureThreshold: 3}
}

// Run reads this cluster and prints the Secret and the Link.
func (o *LinkOptions) Run(ctx context.Context) error {
	config, err := o.factory.RESTConfig()
	if err != nil {
		return err
	}
	c, err := o.factory.ClientsFor(config)
	if err != nil {
		return err
	}
	if o.ClusterName, err = clusterName(ctx, c, o.ClusterName); err != nil {
		return err
	}
	server := o.APIServerAddress
	if server == "" {
		server = config.Host
		if err := validateAPIServerAddress("the kubeconfig's server", server); err != nil {
			return fmt.Errorf("%w; or pass --api-server-address", err)
		}
		if isLoopback(server) {
			fmt.Fprintf(o.ErrOut, "Warning: the API server address %s is this machine's only; other clusters cannot reach it there. Pass --api-server-address with the address they reach it at.\n", server)
		}
	}
	token, ca, err := readReaderToken(ctx, c, o.Peer)
	if err != nil {
		return err
	}
	addrs, port, probePort, err := o.gateway(ctx, c)
	if err != nil {
		return err
	}
	kubeconfig, err := readerKubeconfig(o.ClusterName, server, token, ca)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      CredentialsSecretName(o.ClusterName),
			Namespace: Namespace,
			Labels:    map[string]string{mcv1alpha1.LabelClusterName: o.ClusterName},
		},
		Type: corev1.SecretTypeOpaque,
		// In clear, so that whoever applies it sees what they hand over: a token and no
		// more. The API server stores it under data as any Secret.
		StringData: map[string]string{mcv1alpha1.CredentialsKey: string(kubeconfig)},
	}
	link := &mcv1alpha1.Link{
		TypeMeta: metav1.TypeMeta{APIVersion: mcv1alpha1.GroupVersion.String(), Kind: "Link"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      o.ClusterName,
			Namespace: Namespace,
			Labels:    map[string]string{mcv1alpha1.LabelClusterName: o.ClusterName},
		},
		Spec: mcv1alpha1.LinkSpec{
			TargetClusterName:       o.ClusterName,
			TargetClusterDomain:     o.ClusterDomain,
			CredentialsSecret:       secret.Name,
			GatewayAddresses:        addrs,
			GatewayPort:             port,
			GatewayIdentity:         o.gatewayIdentity(),
			Probe:                   o.probe(probePort),
			Selector:                o.selector,
			CreateMissingNamespaces: o.CreateMissingNamespaces,
		},
	}
	return cmdutil.PrintYAML(o.Out, secret, link)
}

// clusterName is the cluster's name: its ClusterProperty's (KEP-2149) where it has one, which
// flag must then equal, else flag's.
func clusterName(ctx context.Context, c *cmdutil.Clients, flag string) (string, error) {
	p, err := c.Dynamic.Resource(clusterPropertiesGVR).Get(ctx, aboutv1alpha1.ClusterIDProperty, metav1.GetOptions{})
	switch {
	case (apierrors.IsNotFound(err) || meta.IsNoMatchError(err)) && flag == "":
		return "", fmt.Errorf("--cluster-name is required, as this cluster (%s) has no ClusterProperty %s naming it: give the name the other clusters know this one by, such as --cluster-name east (mesh install --cluster-name writes the ClusterProperty)", c.Host, aboutv1alpha1.ClusterIDProperty)
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		// No property, or no ClusterProperty API: the flag says it.
		return flag, nil
	case err != nil:
		return "", fmt.Errorf("reading the ClusterProperty %s: %w", aboutv1alpha1.ClusterIDProperty, err)
	}
	name, _, _ := unstructured.NestedString(p.Object, "spec", "value")
	switch {
	case flag != "" && flag != name:
		return "", fmt.Errorf("--cluster-name %s, but this cluster (%s) is named %s by its ClusterProperty %s: give --cluster-name %s, or leave it out", flag, c.Host, name, aboutv1alpha1.ClusterIDProperty, name)
	case flag == "":
		if err := validateClusterName(name); err != nil {
			return "", fmt.Errorf("the ClusterProperty %s names this cluster %q, which cannot name a Link: %w", aboutv1alpha1.ClusterIDProperty, name, err)
		}
	}
	return name, nil
}

// readReaderToken reads the remote reader's token and the cluster's CA from the token Secret:
// the one every peer shares, or peer's own (see allow).
func readReaderToken(ctx context.Context, c *cmdutil.Clients, peer string) (token, ca []byte, err error) {
	secret, reader, fix, missing := peerTokenSecret(peer), peerReaderName(peer), installCommand, "install the multicluster components first"
	if peer != "" {
		fix = fmt.Sprintf("mesh multicluster allow --peer %s | kubectl apply -f -", peer)
		missing = "make the credentials of that peer first"
	}
	s, err := c.Kube.CoreV1().Secrets(Namespace).Get(ctx, secret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("no Secret %s/%s in this cluster (%s): %s: %s", Namespace, secret, c.Host, missing, fix)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the Secret %s/%s: %w", Namespace, secret, err)
	}
	if s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] != reader {
		return nil, nil, fmt.Errorf("the Secret %s/%s is not a token of the ServiceAccount %s (type %q, for %q): delete it and make it again: %s", Namespace, secret, reader, s.Type, s.Annotations[corev1.ServiceAccountNameKey], fix)
	}
	token, ca = s.Data[corev1.ServiceAccountTokenKey], s.Data[corev1.ServiceAccountRootCAKey]
	if len(token) == 0 || len(ca) == 0 {
		return nil, nil, fmt.Errorf("the Secret %s/%s has no %s or %s yet: the token controller fills it moments after it is applied, so try again; if it stays empty, check that the ServiceAccount %s exists (%s)", Namespace, secret, corev1.ServiceAccountTokenKey, corev1.ServiceAccountRootCAKey, reader, fix)
	}
	return token, ca, nil
}

// gateway returns the gateway's addresses and port: the flags', else the gateway Service's.
func (o *LinkOptions) gateway(ctx context.Context, c *cmdutil.Clients) (addrs []string, port, probePort int32, err error) {
	if o.gatewayAddressesSet {
		return o.GatewayAddresses, int32(o.GatewayPort), GatewayProbePort, nil
	}
	svc, err := c.Kube.CoreV1().Services(Namespace).Get(ctx, GatewayServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, 0, 0, fmt.Errorf("no gateway Service %s/%s in this cluster to read the gateway's addresses from: pass --gateway-addresses (and --gateway-port) with the addresses other clusters reach this cluster's gateway at", Namespace, GatewayServiceName)
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading the gateway Service %s/%s: %w", Namespace, GatewayServiceName, err)
	}
	addrs, port, probePort = gatewayOf(svc)
	if len(addrs) == 0 {
		return nil, 0, 0, fmt.Errorf("the gateway Service %s/%s (type %s) has no LoadBalancer address yet: wait for one (kubectl -n %s get service %s), or pass --gateway-addresses", Namespace, GatewayServiceName, svc.Spec.Type, Namespace, GatewayServiceName)
	}
	if err := validateGatewayAddresses(addrs); err != nil {
		return nil, 0, 0, fmt.Errorf("the gateway Service's addresses: %w", err)
	}
	if o.gatewayPortSet {
		port = int32(o.GatewayPort)
	}
	return addrs, port, probePort, nil
}

// gatewayOf returns the LoadBalancer addresses of the gateway Service, and the ports named
// mesh-gateway and mesh-probe or else their defaults.
func gatewayOf(svc *corev1.Service) ([]string, int32, int32) {
	var addrs []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		a := in.IP
		if a == "" {
			a = in.Hostname
		}
		if a != "" && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	port, probe := int32(mcv1alpha1.DefaultGatewayPort), int32(GatewayProbePort)
	for _, p := range svc.Spec.Ports {
		switch p.Name {
		case GatewayPortName:
			port = p.Port
		case GatewayProbePortName:
			probe = p.Port
		}
	}
	return addrs, port, probe
}

// readerKubeconfig is a kubeconfig with one cluster, user and context, all named cluster,
// that authenticates with token only.
func readerKubeconfig(cluster, server string, token, ca []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{Token: string(token)}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster}
	cfg.CurrentContext = cluster
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return b, nil
}
