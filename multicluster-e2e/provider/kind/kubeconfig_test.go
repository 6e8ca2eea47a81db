package kind

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestMergeKubeconfigs(t *testing.T) {
	got, err := mergeKubeconfigs([]clusterKubeconfig{
		{Name: "west", Kind: readTestdata(t, "kind-west.kubeconfig"), Server: "https://172.18.0.2:6443"},
		{Name: "east", Kind: readTestdata(t, "kind-east.kubeconfig"), Server: "https://172.18.0.3:6443"},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kubeconfig-merged.yaml", got)

	cfg, err := clientcmd.Load(got)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "west" {
		t.Errorf("current context %q, want west", cfg.CurrentContext)
	}
	for name, server := range map[string]string{"west": "https://172.18.0.2:6443", "east": "https://172.18.0.3:6443"} {
		ctx := cfg.Contexts[name]
		if ctx == nil || ctx.Cluster != name || ctx.AuthInfo != name {
			t.Fatalf("context %s: %+v, want cluster and user %s", name, ctx, name)
		}
		if s := cfg.Clusters[name].Server; s != server {
			t.Errorf("cluster %s server %s, want %s", name, s, server)
		}
		if ca := string(cfg.Clusters[name].CertificateAuthorityData); ca != name+"-ca" {
			t.Errorf("cluster %s has the CA of %q", name, ca)
		}
		if key := string(cfg.AuthInfos[name].ClientKeyData); key != name+"-key" {
			t.Errorf("user %s has the key of %q", name, key)
		}
	}
	for n := range cfg.Contexts {
		if strings.HasPrefix(n, "kind-") {
			t.Errorf("context %s kept kind's name", n)
		}
	}
}

func TestMergeKubeconfigsKeepsKindServerWhenNoneGiven(t *testing.T) {
	got, err := mergeKubeconfigs([]clusterKubeconfig{{Name: "west", Kind: readTestdata(t, "kind-west.kubeconfig")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(got)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Clusters["west"].Server; s != "https://127.0.0.1:39221" {
		t.Errorf("server %s, want kind's", s)
	}
}

func TestMergeKubeconfigsErrors(t *testing.T) {
	west := readTestdata(t, "kind-west.kubeconfig")
	tests := []struct {
		name string
		in   []clusterKubeconfig
		want string
	}{
		{"none", nil, "no kubeconfig"},
		{"garbage", []clusterKubeconfig{{Name: "west", Kind: []byte("{")}}, "kind's kubeconfig of west"},
		{"no current context", []clusterKubeconfig{{Name: "west", Kind: []byte(strings.Replace(string(west), "current-context: kind-meshfed-west", "current-context: other", 1))}}, `no current context ("other")`},
		{"twice", []clusterKubeconfig{{Name: "west", Kind: west}, {Name: "west", Kind: west}}, "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := mergeKubeconfigs(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
