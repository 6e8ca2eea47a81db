package cmdutil

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestRESTConfigForContext(t *testing.T) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["west"] = &clientcmdapi.Cluster{Server: "https://198.18.0.2:6443"}
	cfg.Clusters["east"] = &clientcmdapi.Cluster{Server: "https://198.18.0.3:6443"}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "T"}
	cfg.Contexts["west"] = &clientcmdapi.Context{Cluster: "west", AuthInfo: "admin"}
	cfg.Contexts["east"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "admin"}
	cfg.CurrentContext = "west"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	f := &ConfigFlags{KubeConfig: path, Context: "west", RequestTimeout: 7 * time.Second}
	tests := []struct {
		context, host, err string
	}{
		{"", "https://198.18.0.2:6443", ""},
		{"west", "https://198.18.0.2:6443", ""},
		{"east", "https://198.18.0.3:6443", ""},
		{"north", "", `context "north" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.context, func(t *testing.T) {
			c, err := f.RESTConfigForContext(tt.context)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Host != tt.host || c.Timeout != 7*time.Second {
				t.Errorf("host %s timeout %s", c.Host, c.Timeout)
			}
		})
	}
	// --context does not change what RESTConfigForContext reaches.
	if c, err := ClientsForContext(f, "east"); err != nil || c.Host != "https://198.18.0.3:6443" {
		t.Errorf("ClientsForContext(east): %v %v", c, err)
	}
}
