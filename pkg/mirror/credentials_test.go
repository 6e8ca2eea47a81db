package mirror

import (
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	good := "apiVersion: v1\nkind: Config\ncurrent-context: e\ncontexts: [{name: e, context: {cluster: e, user: e}}]\nclusters: [{name: e, cluster: {server: 'https://198.18.0.12:6443'}}]\nusers: [{name: e, user: {token: T}}]\n"
	if c, err := ParseCredentials([]byte(good)); err != nil || c.Host != "https://198.18.0.12:6443" || c.BearerToken != "T" {
		t.Errorf("good kubeconfig: %v %v", c, err)
	}
	base := "apiVersion: v1\nkind: Config\ncurrent-context: e\ncontexts: [{name: e, context: {cluster: e, user: e}}]\n"
	for name, tt := range map[string]struct{ kubeconfig, want string }{
		"empty":         {"", "the kubeconfig is empty"},
		"no context":    {"apiVersion: v1\nkind: Config\n", "the kubeconfig is not usable"},
		"exec":          {base + "clusters: [{name: e, cluster: {server: 'https://e'}}]\nusers: [{name: e, user: {exec: {command: /bin/sh, apiVersion: client.authentication.k8s.io/v1}}}]\n", "runs a command"},
		"auth provider": {base + "clusters: [{name: e, cluster: {server: 'https://e'}}]\nusers: [{name: e, user: {auth-provider: {name: gcp}}}]\n", `uses the auth-provider "gcp"`},
		"token file":    {base + "clusters: [{name: e, cluster: {server: 'https://e'}}]\nusers: [{name: e, user: {tokenFile: /var/run/secrets/token}}]\n", "names files of this machine"},
		"client cert":   {base + "clusters: [{name: e, cluster: {server: 'https://e'}}]\nusers: [{name: e, user: {client-certificate: /root/.kube/admin.crt}}]\n", "names files of this machine"},
		"CA file":       {base + "clusters: [{name: e, cluster: {server: 'https://e', certificate-authority: /etc/ca.crt}}]\nusers: [{name: e, user: {token: t}}]\n", "names a certificate-authority file"},
	} {
		if _, err := ParseCredentials([]byte(tt.kubeconfig)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}
