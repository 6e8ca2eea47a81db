package install

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	trustcmd "github.com/meshfed/meshfed/pkg/cmd/trust"
	"github.com/meshfed/meshfed/pkg/inject/webhook"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Options are the options of `mesh install`.
type Options struct {
	ClusterName string
	// ClusterSet is the clusterset's name, written with ClusterName in the cluster's
	// ClusterProperties (KEP-2149).
	ClusterSet  string
	TrustDomain string
	CRDs        bool
	HA          bool
	Images      cmdutil.ImageFlags
	// ExternalIssuer says the issuer Secret and the trust bundle come from elsewhere
	// (cert-manager through 'mesh trust cluster --cert-manager', or any tool); AnchorDir
	// says install makes them from this anchor. Exactly one is given.
	ExternalIssuer bool
	AnchorDir      string
	// InjectorCertificate says who makes the injector's serving certificate: cert-manager,
	// or install itself.
	InjectorCertificate string

	cmdutil.IOStreams
	// now dates the issuer made from AnchorDir; tests fix it.
	now func() time.Time
}

// NewCmdInstall returns `mesh install`.
func NewCmdInstall(streams cmdutil.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "install --crds | --cluster-name NAME (--identity-external-issuer | --anchor DIR)",
		Short: "Print a cluster's control plane, for kubectl apply",
		Long: `install prints, for kubectl apply -f -, in two steps as the CRDs must be established
before what uses them:

--crds: the ClusterProperty CRD (about.k8s.io, KEP-2149) and the policy CRDs
(policy.meshfed.io: Server, AuthorizationPolicy, MeshTLSAuthentication,
NetworkAuthentication).

Then, without --crds, the control plane of one cluster:

  - the namespace mesh-system;
  - the cluster's ClusterProperties: cluster.clusterset.k8s.io holds --cluster-name and
    clusterset.k8s.io holds --clusterset. The link controller, 'mesh multicluster link'
    and the ServiceImports read the cluster's name there;
  - the identity service (Deployment and Service meshfed-identity, gRPC on 8080), which
    signs a leaf certificate for each workload's ServiceAccount, with its least-privilege
    RBAC: create TokenReviews, read its issuer Secret and nothing else.
  - the proxy injector (Deployment and Service meshfed-injector, HTTPS on 8443), the
    admission webhook that adds the proxy to pods with meshfed.io/inject: enabled (on the
    pod or its namespace), its MutatingWebhookConfiguration, and its serving certificate
    from cert-manager (a CA Issuer of its own in mesh-system), with its least-privilege
    RBAC: watch namespaces, read the trust bundle ConfigMap and its own Secret.
  - the destination service (Deployment and Service meshfed-destination, gRPC on 8086),
    which tells proxies the endpoints, identities and policies of what they reach. It
    serves with a workload leaf of its own from the identity service, as a proxy gets
    one, and reads no Secret.

--ha runs three replicas of each, with PodDisruptionBudgets.

The identity service signs with the issuer Secret meshfed-identity-issuer in mesh-system,
and every part trusts the anchors of the ConfigMap meshfed-trust-bundle there. Say where
they come from, one of:

--identity-external-issuer: from outside, applied before or after: cert-manager makes and
    renews the issuer ('mesh trust cluster --cert-manager' sets it up), or any other tool
    writes the Secret and the ConfigMap. install prints no issuer. Until they exist the
    identity service waits, not ready; so do the injector and the destination service.
    This is the way to run a cluster for long: the issuer is renewed with no one to
    remember it.

--anchor DIR: from the anchor in DIR (ca.crt and ca.key, as 'mesh trust anchor' wrote
    them): install makes the cluster's issuer, as 'mesh trust cluster' without
    --cert-manager does (valid a year, or less if the anchor ends sooner), and prints its
    Secret, with its private key, and the trust bundle ConfigMap (the anchor alone) with
    the control plane: one command installs a working control plane. Pipe the output to
    kubectl, do not keep it. Renew the issuer by running the same command again before
    it ends, or move to cert-manager with 'mesh trust cluster --cert-manager'.

The injector's webhook serves with a certificate the apiserver trusts through the
webhook's caBundle. By default cert-manager makes and renews it (a CA Issuer of the
injector's own). --injector-certificate=install makes it here instead, for a cluster with
no cert-manager: a CA of its own (ten years) and a serving certificate (a year), printed as
the Secret meshfed-injector-tls with the CA in the webhook's caBundle. Renew it by running
the same command again before it ends. With --anchor too, the control plane needs no
cert-manager at all.

Each cluster has
its own name and trust domain (<cluster>.meshfed.local by default): a workload's identity
is spiffe://<trust domain>/ns/<namespace>/sa/<service account>.

It reads no cluster.`,
		Example: `  # cert-manager keeps the issuer: trust first, then the CRDs, then the control plane
  mesh trust anchor --out ./anchor
  mesh trust cluster --anchor ./anchor --cluster west --cert-manager | kubectl --context west apply -f -
  mesh install --crds | kubectl --context west apply -f -
  mesh install --cluster-name west --identity-external-issuer | kubectl --context west apply -f -
  mesh --context west check --wait 2m

  # The issuer made here from the anchor, with the control plane, in one step
  mesh install --crds | kubectl --context west apply -f -
  mesh install --cluster-name west --anchor ./anchor | kubectl --context west apply -f -

  # No cert-manager at all: the issuer and the injector's certificate made here
  mesh install --cluster-name west --anchor ./anchor --injector-certificate=install | kubectl --context west apply -f -

  # From your own registry
  mesh install --cluster-name west --identity-external-issuer --registry registry.example.com/meshfed --version v0.1.0`,
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
	cmd.Flags().StringVar(&o.ClusterSet, "clusterset", deploy.DefaultClusterSet, "the name of the clusterset this cluster is a member of, the same in every cluster (KEP-2149)")
	cmd.Flags().BoolVar(&o.CRDs, "crds", false, "print the CRDs only, to apply before the control plane")
	cmd.Flags().BoolVar(&o.HA, "ha", false, "three replicas of each control-plane server, with disruption budgets")
	cmd.Flags().BoolVar(&o.ExternalIssuer, "identity-external-issuer", false, "the issuer Secret and the trust bundle come from elsewhere ('mesh trust cluster --cert-manager', or any tool): print no issuer")
	cmd.Flags().StringVar(&o.AnchorDir, "anchor", "", "folder of the anchor (ca.crt and ca.key, as 'mesh trust anchor' wrote them): make the cluster's issuer and trust bundle from it and print them too")
	cmd.Flags().StringVar(&o.TrustDomain, "trust-domain", "", "the cluster's trust domain (default <cluster-name>.meshfed.local); the same as given to 'mesh trust cluster'")
	cmd.Flags().StringVar(&o.InjectorCertificate, "injector-certificate", injectorCertManager, "who makes the injector's serving certificate: cert-manager (renewed by it), or install (made here, valid a year; run install again to renew)")
	o.Images.AddFlags(cmd.Flags(), "the control plane's images")
	return cmd
}

// The values of --injector-certificate.
const (
	injectorCertManager = "cert-manager"
	injectorInstall     = "install"
)

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
		if o.ClusterName != "" || o.HA || o.ExternalIssuer || o.AnchorDir != "" {
			return fmt.Errorf("--crds prints the CRDs alone, the same for every cluster: run it without --cluster-name, --ha, --identity-external-issuer and --anchor, then install again without --crds")
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
	if errs := validation.IsDNS1123Subdomain(o.ClusterSet); len(errs) > 0 {
		return fmt.Errorf("--clusterset %q: %s: give a name such as %s, the same in every cluster of the clusterset", o.ClusterSet, errs[0], deploy.DefaultClusterSet)
	}
	switch {
	case o.ExternalIssuer && o.AnchorDir != "":
		return errors.New("--identity-external-issuer and --anchor exclude each other: give --identity-external-issuer when the issuer comes from elsewhere (such as 'mesh trust cluster --cert-manager'), or --anchor DIR for install to make it from the anchor in DIR")
	case o.InjectorCertificate != injectorCertManager && o.InjectorCertificate != injectorInstall:
		return fmt.Errorf("--injector-certificate %q: give %s (cert-manager makes and renews it) or %s (made here, valid a year)", o.InjectorCertificate, injectorCertManager, injectorInstall)
	case !o.ExternalIssuer && o.AnchorDir == "":
		return errors.New("say where the cluster's issuer comes from: --identity-external-issuer when it comes from elsewhere (cert-manager through 'mesh trust cluster --cert-manager', applied before or after), or --anchor DIR for install to make it, and the trust bundle, from the anchor 'mesh trust anchor --out DIR' wrote")
	}
	return o.Images.Validate("controller", "proxy")
}

// Run prints the manifests.
func (o *Options) Run() error {
	if o.CRDs {
		return printManifests(o.Out, deploy.ControlPlaneCRDs(), false)
	}
	values := deploy.ControlPlaneValues{
		Registry: o.Images.Registry, Version: o.Images.Version, ClusterName: o.ClusterName, ClusterSet: o.ClusterSet, TrustDomain: o.TrustDomain, HA: o.HA,
	}
	// Made here, each goes after the namespace, which the first manifest makes, and before
	// what reads it.
	var made []deploy.Manifest
	if o.AnchorDir != "" {
		issuer, err := o.issuer()
		if err != nil {
			return err
		}
		made = append(made, issuer)
	}
	if o.InjectorCertificate == injectorInstall {
		secret, ca, err := o.injectorCertificate()
		if err != nil {
			return err
		}
		values.InjectorCABundle = ca
		made = append(made, secret)
	}
	manifests, err := deploy.ControlPlane(values)
	if err != nil {
		return err
	}
	manifests = slices.Insert(manifests, 1, made...)
	return printManifests(o.Out, manifests, false)
}

// injectorCertificate makes the injector's serving certificate from a new CA of its own,
// and returns its Secret and the CA's PEM for the webhook's caBundle. The CA is not the
// mesh's anchor: the apiserver, its only client, is no workload of the mesh.
func (o *Options) injectorCertificate() (deploy.Manifest, []byte, error) {
	now := o.now()
	ca, err := trust.NewAnchor("meshfed injector CA", trust.DefaultAnchorValidity, now)
	if err != nil {
		return deploy.Manifest{}, nil, fmt.Errorf("the injector's CA: %w", err)
	}
	svc := webhook.Name + "." + trust.Namespace + ".svc"
	cert, key, err := ca.SignServing([]string{svc, svc + ".cluster.local"}, trust.DefaultIssuerValidity, now)
	if err != nil {
		return deploy.Manifest{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return deploy.Manifest{}, nil, fmt.Errorf("the injector's key: %w", err)
	}
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: webhook.CertSecretName, Namespace: trust.Namespace,
			Labels: map[string]string{"app.kubernetes.io/name": "injector", "app.kubernetes.io/part-of": "meshfed"}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			"ca.crt":                ca.CertPEM(),
		},
	}
	var b bytes.Buffer
	if err := cmdutil.PrintYAML(&b, secret); err != nil {
		return deploy.Manifest{}, nil, err
	}
	return deploy.Manifest{Path: "the injector's serving certificate made by --injector-certificate=install", Data: b.Bytes()}, ca.CertPEM(), nil
}

// issuer makes the cluster's issuer from the anchor in AnchorDir as 'mesh trust cluster'
// does without --cert-manager, and returns its Secret and the trust bundle ConfigMap (not
// the namespace: the control plane's own manifest makes it).
func (o *Options) issuer() (deploy.Manifest, error) {
	s, err := trustcmd.NewStandalone("--anchor", o.AnchorDir, o.ClusterName, nil, trust.DefaultIssuerValidity, o.now())
	if err != nil {
		return deploy.Manifest{}, err
	}
	objs := slices.DeleteFunc(s.Objects, func(obj runtime.Object) bool {
		return obj.GetObjectKind().GroupVersionKind().Kind == "Namespace"
	})
	var b bytes.Buffer
	if err := cmdutil.PrintYAML(&b, objs...); err != nil {
		return deploy.Manifest{}, err
	}
	return deploy.Manifest{Path: "the issuer made from --anchor " + o.AnchorDir, Data: b.Bytes()}, nil
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
