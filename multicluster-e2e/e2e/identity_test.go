//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/pkg/identity"
	"github.com/meshfed/meshfed/pkg/trust"
)

// TestIdentity gives two clusters their own issuers from one anchor through cert-manager,
// runs the identity service in both, and asks it for leaves from pods, with the CLI, kubectl
// and real projected tokens only.
func TestIdentity(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west", "east"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	west, east := e.client(t, "west"), e.client(t, "east")

	installMesh(t, ctx, e, "west", "east")
	for _, c := range []string{"west", "east"} {
		if _, err := e.kubectl(ctx, c, "", "-n", "mesh-system", "wait", "--for=condition=Available", "deployment/meshfed-identity", "--timeout=90s"); err != nil {
			t.Fatal(err)
		}
		e.apply(t, ctx, c, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\n")
		// Until the injector hands proxies the bundle, the test pods read a copy of it.
		e.apply(t, ctx, c, bundleCopy(t, ctx, e.client(t, c), "shop"))
	}
	web := trust.ID{TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "web"}

	var westLeaf []*x509.Certificate
	t.Run("cert-manager makes each cluster's issuer from the anchor", func(t *testing.T) {
		for _, c := range []string{"west", "east"} {
			if _, err := e.kubectl(ctx, c, "", "-n", "mesh-system", "wait", "--for=condition=Ready", "certificate/meshfed-identity-issuer", "--timeout=60s"); err != nil {
				t.Fatal(err)
			}
			iss := issuerOf(t, ctx, e.client(t, c))
			if want := trust.IssuerCommonName(c); iss.CA.Cert.Subject.CommonName != want {
				t.Errorf("%s's issuer is %q, want %q", c, iss.CA.Cert.Subject.CommonName, want)
			}
		}
	})

	t.Run("a pod's token gets a leaf for its own ServiceAccount", func(t *testing.T) {
		out := certifyPod(t, ctx, e, "west", "web-leaf", web.String(), true)
		westLeaf = leafOf(t, out)
		got, err := bundleOf(t, ctx, west).Verify(westLeaf[0], westLeaf[1:], time.Now())
		if err != nil || got != web {
			t.Fatalf("the leaf verifies with west's bundle as %v, %v; want %s", got, err, web)
		}
	})

	t.Run("a pod asking for another ServiceAccount's identity is refused", func(t *testing.T) {
		db := trust.ID{TrustDomain: web.TrustDomain, Namespace: "shop", ServiceAccount: "db"}
		out := certifyPod(t, ctx, e, "west", "web-as-db", db.String(), false)
		if !strings.Contains(out, "PermissionDenied") || !strings.Contains(out, "token proves "+web.String()) {
			t.Errorf("the refusal says %q; want PermissionDenied naming the identity the token proves", out)
		}
	})

	t.Run("a leaf from west verifies with east's bundle; one from another anchor does not", func(t *testing.T) {
		if westLeaf == nil {
			t.Skip("no leaf from west")
		}
		eastBundle := bundleOf(t, ctx, east)
		if _, err := eastBundle.Verify(westLeaf[0], westLeaf[1:], time.Now()); err != nil {
			t.Errorf("west's leaf does not verify with east's bundle: %v", err)
		}
		stranger := strangerLeaf(t, web)
		if _, err := eastBundle.Verify(stranger[0], stranger[1:], time.Now()); err == nil {
			t.Error("east's bundle accepts a leaf from another anchor")
		}
	})

	t.Run("mesh trust verify says west and east share the anchor", func(t *testing.T) {
		out := e.mesh(t, ctx, "west", "trust", "verify", "--context", "west", "--context", "east")
		if strings.Contains(out, "✗") {
			t.Errorf("mesh trust verify:\n%s", out)
		}
	})

	t.Run("a forced renewal of the issuer is picked up with no restart", func(t *testing.T) {
		before := issuerOf(t, ctx, west)
		renewIssuer(t, ctx, e, "west")
		var after *identity.Issuer
		eventually(t, 60*time.Second, "cert-manager to write a new issuer", func() error {
			after = issuerOf(t, ctx, west)
			if after.CA.Cert.Equal(before.CA.Cert) {
				return fmt.Errorf("the issuer Secret still holds serial %s", before.CA.Cert.SerialNumber)
			}
			return nil
		})
		i := 0
		eventually(t, 60*time.Second, "a leaf signed by the renewed issuer", func() error {
			i++
			leaf := leafOf(t, certifyPod(t, ctx, e, "west", fmt.Sprintf("web-renewed-%d", i), web.String(), true))
			if !leaf[1].Equal(after.CA.Cert) {
				return fmt.Errorf("the leaf's issuer has serial %s, want the renewed %s", leaf[1].SerialNumber, after.CA.Cert.SerialNumber)
			}
			return nil
		})
		if westLeaf != nil {
			if _, err := bundleOf(t, ctx, west).Verify(westLeaf[0], westLeaf[1:], time.Now()); err != nil {
				t.Errorf("a leaf of the old issuer no longer verifies: %v", err)
			}
		}
		pods, err := west.CoreV1().Pods("mesh-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=identity"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			for _, s := range p.Status.ContainerStatuses {
				if s.RestartCount > 0 {
					t.Errorf("the identity service restarted %d times", s.RestartCount)
				}
			}
		}
	})
}

// renewIssuer does what `cmctl renew` does to the cluster's issuer Certificate: its Issuing
// condition tells cert-manager to issue again.
func renewIssuer(t *testing.T, ctx context.Context, e *env, cluster string) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op":"add","path":"/status/conditions/-","value":{"type":"Issuing","status":"True","reason":"ManuallyTriggered","message":"renewal forced by the e2e suite","lastTransitionTime":%q}}]`,
		time.Now().UTC().Format(time.RFC3339))
	if _, err := e.kubectl(ctx, cluster, "", "-n", "mesh-system", "patch", "certificate", "meshfed-identity-issuer",
		"--subresource=status", "--type=json", "-p", patch); err != nil {
		t.Fatal(err)
	}
}

// certifyPod runs `echo certify` as shop/web with a projected token for the identity service,
// waits for it to end, and returns its log: the leaf's chain when it succeeds.
func certifyPod(t *testing.T, ctx context.Context, e *env, cluster, name, id string, succeed bool) string {
	t.Helper()
	e.apply(t, ctx, cluster, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: shop}
spec:
  serviceAccountName: web
  restartPolicy: Never
  containers:
  - name: certify
    image: %s
    args: [certify, --identity, %q, --timeout, 30s]
    volumeMounts:
    - {name: token, mountPath: /var/run/secrets/meshfed.io/identity}
    - {name: trust, mountPath: /var/run/secrets/meshfed.io/trust}
  volumes:
  - name: token
    projected:
      sources:
      - serviceAccountToken: {audience: %s, path: token, expirationSeconds: 3600}
  - name: trust
    configMap: {name: %s}
`, name, build.RepoImage("echo"), id, identity.Audience, trust.BundleConfigMapName))
	phase := "Succeeded"
	if !succeed {
		phase = "Failed"
	}
	_, werr := e.kubectl(ctx, cluster, "", "-n", "shop", "wait", "--for=jsonpath={.status.phase}="+phase, "pod/"+name, "--timeout=60s")
	out, err := e.kubectl(ctx, cluster, "", "-n", "shop", "logs", name)
	if werr != nil {
		t.Fatalf("pod %s did not end %s: %v\nits log:\n%s%v", name, phase, werr, out, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func leafOf(t *testing.T, out string) []*x509.Certificate {
	t.Helper()
	certs, err := trust.ParseCertificates([]byte(out))
	if err != nil || len(certs) < 2 {
		t.Fatalf("certify printed %d certificates (%v); want the leaf and its issuer:\n%s", len(certs), err, out)
	}
	return certs
}

func bundleOf(t *testing.T, ctx context.Context, c kubernetes.Interface) *trust.Bundle {
	t.Helper()
	cm, err := c.CoreV1().ConfigMaps(trust.Namespace).Get(ctx, trust.BundleConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := trust.ParseBundle([]byte(cm.Data[trust.BundleKey]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleCopy is the cluster's trust-bundle ConfigMap, for another namespace.
func bundleCopy(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata:\n  %s: |\n", trust.BundleConfigMapName, ns, trust.BundleKey)
	for _, line := range strings.Split(strings.TrimSpace(string(bundleOf(t, ctx, c).PEM())), "\n") {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	return b.String()
}

func issuerOf(t *testing.T, ctx context.Context, c kubernetes.Interface) *identity.Issuer {
	t.Helper()
	s, err := c.CoreV1().Secrets(trust.Namespace).Get(ctx, trust.IssuerSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := identity.ParseIssuer(s.Data, time.Now())
	if err != nil {
		t.Fatalf("the issuer Secret: %v", err)
	}
	return iss
}

// strangerLeaf is a leaf for id from an anchor outside the federation.
func strangerLeaf(t *testing.T, id trust.ID) []*x509.Certificate {
	t.Helper()
	now := time.Now()
	anchor, err := trust.NewAnchor("stranger", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := trust.NewIssuer(anchor, "identity.stranger.meshfed", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := issuer.IssueLeaf(id, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{leaf, issuer.Cert}
}
