package mirror

import (
	"errors"
	"fmt"
	"sort"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ParseCredentials turns the kubeconfig of a Link's credentials Secret into a rest.Config.
//
// A kubeconfig that comes from a Secret is data, not code: one that would run a command
// (exec, auth-provider) or read a file of this machine (certificate, key or token paths) is
// refused, whoever wrote the Secret: the link controller would run that command, or read that
// file, with its own privileges. The controller and `mesh multicluster check` share these rules.
func ParseCredentials(data []byte) (*rest.Config, error) {
	if len(data) == 0 {
		return nil, errors.New("the kubeconfig is empty")
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig does not parse: %w", err)
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		a := cfg.AuthInfos[name]
		switch {
		case a.Exec != nil:
			return nil, fmt.Errorf("the kubeconfig's user %q runs a command (exec %q): credentials of a Link must be a token, never a command", name, a.Exec.Command)
		case a.AuthProvider != nil:
			return nil, fmt.Errorf("the kubeconfig's user %q uses the auth-provider %q: credentials of a Link must be a token", name, a.AuthProvider.Name)
		case a.ClientCertificate != "" || a.ClientKey != "" || a.TokenFile != "":
			return nil, fmt.Errorf("the kubeconfig's user %q names files of this machine: credentials of a Link must hold their data inline", name)
		}
	}
	for _, name := range sortedKeys(cfg.Clusters) {
		if cfg.Clusters[name].CertificateAuthority != "" {
			return nil, fmt.Errorf("the kubeconfig's cluster %q names a certificate-authority file of this machine: credentials of a Link must hold certificate-authority-data", name)
		}
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig is not usable: %w", err)
	}
	return rc, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
