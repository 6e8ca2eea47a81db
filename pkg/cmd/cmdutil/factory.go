package cmdutil

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// IOStreams are the streams a command reads and writes: what it prints for kubectl on Out,
// warnings and errors on ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Clients reach one cluster.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Host is the API server's URL, for messages.
	Host string
}

// Factory makes what commands need to reach clusters. ConfigFlags is the real one; tests
// pass fakes.
type Factory interface {
	// RESTConfig is the config of the cluster that --kubeconfig and --context name.
	RESTConfig() (*rest.Config, error)
	// ClientsFor returns clients for a config: the one of RESTConfig, or one a command
	// made, such as a Link's credentials.
	ClientsFor(config *rest.Config) (*Clients, error)
}

// LocalClients returns the clients of the cluster that --kubeconfig and --context name.
func LocalClients(f Factory) (*Clients, error) {
	c, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return f.ClientsFor(c)
}

// DefaultRequestTimeout bounds every request to an API server, so that a cluster that does
// not answer makes a command fail instead of hang.
const DefaultRequestTimeout = 30 * time.Second

// ConfigFlags are kubectl's --kubeconfig and --context, and the Factory they make.
type ConfigFlags struct {
	KubeConfig     string
	Context        string
	RequestTimeout time.Duration
}

var _ Factory = (*ConfigFlags)(nil)

// AddFlags adds the flags to fs, as persistent flags of the root command.
func (f *ConfigFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.KubeConfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.Context, "context", "", "the kubeconfig context to use (default: its current context)")
	fs.DurationVar(&f.RequestTimeout, "request-timeout", DefaultRequestTimeout, "how long to wait for an answer to each request to the API server")
}

// RESTConfig loads the kubeconfig as kubectl does and applies --context.
func (f *ConfigFlags) RESTConfig() (*rest.Config, error) {
	return f.RESTConfigForContext(f.Context)
}

// ContextConfigs is a Factory that also reaches kubeconfig contexts other than the one
// --context names, for commands that look at several clusters at once (`mesh trust
// verify`). It is an interface of its own, not a method of Factory, so that the fakes of
// commands that reach one cluster need not grow one.
type ContextConfigs interface {
	// RESTConfigForContext is the config of the kubeconfig's context name; "" is the
	// kubeconfig's current context.
	RESTConfigForContext(name string) (*rest.Config, error)
}

var _ ContextConfigs = (*ConfigFlags)(nil)

// RESTConfigForContext loads the kubeconfig of --kubeconfig as kubectl does, for the
// context name instead of --context.
func (f *ConfigFlags) RESTConfigForContext(name string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.KubeConfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: name}
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no kubeconfig: pass --kubeconfig, or set KUBECONFIG, to reach a cluster")
		}
		return nil, fmt.Errorf("kubeconfig: %w (check --kubeconfig and --context)", err)
	}
	c.Timeout = f.RequestTimeout
	return c, nil
}

// ClientsForContext returns clients for the kubeconfig context name, if f can reach
// contexts by name (ConfigFlags can).
func ClientsForContext(f Factory, name string) (*Clients, error) {
	cc, ok := f.(ContextConfigs)
	if !ok {
		return nil, fmt.Errorf("context %q: this command's factory (%T) reaches one cluster only", name, f)
	}
	c, err := cc.RESTConfigForContext(name)
	if err != nil {
		return nil, err
	}
	return f.ClientsFor(c)
}

// ClientsFor returns clients for config, bounding its requests by --request-timeout when it
// has no timeout of its own.
func (f *ConfigFlags) ClientsFor(config *rest.Config) (*Clients, error) {
	config = rest.CopyConfig(config)
	if config.Timeout == 0 {
		config.Timeout = f.RequestTimeout
	}
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("clients for %s: %w", config.Host, err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("clients for %s: %w", config.Host, err)
	}
	return &Clients{Kube: kube, Dynamic: dyn, Host: config.Host}, nil
}
