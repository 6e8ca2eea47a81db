package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/inject"
	"github.com/meshfed/meshfed/pkg/trust"
)

// Options are the options of `mesh inject`.
type Options struct {
	// File is the input, "-" for standard input.
	File        string
	ClusterName string
	TrustDomain string
	// BundleFile holds the trust bundle; empty reads it from the cluster.
	BundleFile    string
	NativeSidecar bool
	Images        cmdutil.ImageFlags

	Factory cmdutil.Factory
	cmdutil.IOStreams

	// config is made by Run, once it has the bundle.
	config inject.Config
}

// NewCmdInject returns `mesh inject`.
func NewCmdInject(f cmdutil.Factory, streams cmdutil.IOStreams) *cobra.Command {
	o := &Options{Factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "inject FILE|- --cluster-name NAME",
		Short: "Add the proxy to workloads' YAML, for kubectl apply",
		Long: `inject reads Kubernetes objects as YAML from FILE, or from standard input with -, adds
meshfed's proxy to every Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob
and Pod, and prints every object, injected or not, for kubectl apply -f -. It says on
stderr, for each object, whether it was injected or why not.

It injects as the cluster's webhook would (annotation meshfed.io/inject: enabled), so
objects it printed are left alone by the webhook. An object that says
meshfed.io/inject: disabled, uses the node's network, declares one of the proxy's
ports (4140, 4143, 4191) or has an annotation value inject does not take is printed
unchanged, with the reason on stderr.

The proxy gets the cluster's trust bundle: read from the ConfigMap
mesh-system/meshfed-trust-bundle of the cluster --kubeconfig and --context name, or
from --bundle with no cluster at all. Pods keep the bundle they were made with: inject
again after a change of trust anchor.`,
		Example: `  # Mesh a running Deployment
  kubectl get deploy web -o yaml | mesh inject - --cluster-name west | kubectl apply -f -

  # Offline, with the bundle 'mesh trust cluster' wrote
  mesh inject app.yaml --cluster-name west --bundle ./west/ca-bundle.crt > app-injected.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("give one FILE to inject, or - for standard input (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.ClusterName, "cluster-name", "", "the name the federation knows this cluster by, such as west: makes the trust domain <cluster-name>.meshfed.local")
	fs.StringVar(&o.TrustDomain, "trust-domain", "", "the cluster's trust domain, as 'mesh trust cluster' made it (default <cluster-name>.meshfed.local)")
	fs.StringVar(&o.BundleFile, "bundle", "", "file holding the trust bundle (PEM); default: the ConfigMap mesh-system/meshfed-trust-bundle of the cluster")
	fs.BoolVar(&o.NativeSidecar, "native-sidecar", true, "run the proxy as a native sidecar (an init container with restartPolicy Always: Kubernetes 1.29 and later); false makes it the first container")
	o.Images.AddFlags(fs, "the proxy's image is")
	return cmd
}

// Complete fills the trust domain from the cluster name.
func (o *Options) Complete() error {
	if o.TrustDomain == "" && o.ClusterName != "" {
		o.TrustDomain = trust.DefaultTrustDomain(o.ClusterName)
	}
	return nil
}

func (o *Options) readBundle(ctx context.Context) (string, error) {
	if o.BundleFile != "" {
		b, err := os.ReadFile(o.BundleFile)
		if err != nil {
			return "", fmt.Errorf("--bundle: %w", err)
		}
		if _, err := trust.ParseBundle(b); err != nil {
			return "", fmt.Errorf("--bundle %s: %w", o.BundleFile, err)
		}
		return string(b), nil
	}
	c, err := cmdutil.LocalClients(o.Factory)
	if err != nil {
		return "", fmt.Errorf("reading the trust bundle from the cluster (or pass --bundle FILE): %w", err)
	}
	cm, err := c.Kube.CoreV1().ConfigMaps(trust.Namespace).Get(ctx, trust.BundleConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no ConfigMap %s/%s in %s: apply 'mesh trust cluster' there first, or pass --bundle FILE", trust.Namespace, trust.BundleConfigMapName, c.Host)
	}
	if err != nil {
		return "", fmt.Errorf("reading the ConfigMap %s/%s from %s (or pass --bundle FILE): %w", trust.Namespace, trust.BundleConfigMapName, c.Host, err)
	}
	pem := cm.Data[trust.BundleKey]
	if _, err := trust.ParseBundle([]byte(pem)); err != nil {
		return "", fmt.Errorf("the ConfigMap %s/%s, key %s: %w", trust.Namespace, trust.BundleConfigMapName, trust.BundleKey, err)
	}
	return pem, nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.TrustDomain == "" {
		return errors.New("--cluster-name or --trust-domain is required: the proxies' identities are in the cluster's trust domain (<cluster-name>.meshfed.local by default)")
	}
	if o.ClusterName != "" {
		if err := trust.ValidateClusterName(o.ClusterName); err != nil {
			return fmt.Errorf("--cluster-name: %w", err)
		}
	}
	if err := trust.ValidateTrustDomain(o.TrustDomain); err != nil {
		return fmt.Errorf("--trust-domain: %w", err)
	}
	return o.Images.Validate("proxy")
}

// Run reads the trust bundle and the input, injects it, and prints it: all of it, or on an
// error nothing.
func (o *Options) Run(ctx context.Context) error {
	bundle, err := o.readBundle(ctx)
	if err != nil {
		return err
	}
	o.config = inject.Config{
		ProxyImage:     o.Images.Image("proxy"),
		TrustDomain:    o.TrustDomain,
		TrustBundle:    bundle,
		NativeSidecars: o.NativeSidecar,
		Version:        o.Images.Version,
		ProxyResources: inject.DefaultProxyResources(),
		LogLevel:       inject.DefaultLogLevel,
	}
	if err := o.config.Validate(); err != nil {
		return err
	}
	data, err := o.readInput()
	if err != nil {
		return err
	}
	docs, err := decode(data)
	if err != nil {
		return fmt.Errorf("%s: %w", o.inputName(), err)
	}
	var out, report bytes.Buffer
	for i, d := range docs {
		if items, ok := listItems(d.object); ok {
			for _, it := range items {
				if err := o.injectOne(&report, it.(map[string]any)); err != nil {
					return fmt.Errorf("%s: %s: %w", o.inputName(), d.where(), err)
				}
			}
		} else if err := o.injectOne(&report, d.object); err != nil {
			return fmt.Errorf("%s: %s: %w", o.inputName(), d.where(), err)
		}
		if err := cmdutil.PrintYAMLMap(&out, d.object, i > 0); err != nil {
			return fmt.Errorf("%s: %s: %w", o.inputName(), d.where(), err)
		}
	}
	if _, err := o.Out.Write(out.Bytes()); err != nil {
		return err
	}
	_, err = o.ErrOut.Write(report.Bytes())
	return err
}

func (o *Options) injectOne(report io.Writer, obj map[string]any) error {
	res, err := injectObject(o.config, obj)
	if err != nil {
		return fmt.Errorf("%s: %w", describe(obj), err)
	}
	fmt.Fprintf(report, "%s %s\n", describe(obj), res)
	return nil
}

// describe names an object as kubectl does: deployment.apps/web.
func describe(obj map[string]any) string {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	s := strings.ToLower(kind)
	if group, _, ok := strings.Cut(apiVersion, "/"); ok {
		s += "." + group
	}
	md, _ := obj["metadata"].(map[string]any)
	if name, _ := md["name"].(string); name != "" {
		s += "/" + name
	}
	return s
}

func (o *Options) readInput() ([]byte, error) {
	if o.File == "-" {
		return io.ReadAll(o.In)
	}
	b, err := os.ReadFile(o.File)
	if err != nil {
		return nil, fmt.Errorf("reading the objects to inject: %w", err)
	}
	return b, nil
}

func (o *Options) inputName() string {
	if o.File == "-" {
		return "standard input"
	}
	return o.File
}
