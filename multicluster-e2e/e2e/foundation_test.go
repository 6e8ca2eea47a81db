//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
	"github.com/meshfed/meshfed/pkg/images"
)

// echoApp is the echo server with two replicas behind a ClusterIP Service, and a client pod
// to run commands from.
var echoApp = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      containers:
      - name: echo
        image: %[1]s
        imagePullPolicy: IfNotPresent
        args: [serve]
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /readyz, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: default
spec:
  selector: {app: echo}
  ports:
  - port: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: default
spec:
  containers:
  - name: client
    image: %[1]s
    imagePullPolicy: IfNotPresent
    args: [serve]
`, build.RepoImage("echo"))

const echoLB = `apiVersion: v1
kind: Service
metadata:
  name: echo-lb
  namespace: default
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports:
  - port: 80
    targetPort: 8080
`

const echoBin = "/usr/local/bin/echo"

func deployEcho(t *testing.T, ctx context.Context, e *env, cluster string) {
	t.Helper()
	if _, err := e.kubectl(ctx, cluster, echoApp, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kubectl(ctx, cluster, "", "wait", "--for=condition=Available", "deployment/echo", "--timeout=90s"); err != nil {
		t.Fatalf("echo deployment in %s: %v", cluster, err)
	}
	if _, err := e.kubectl(ctx, cluster, "", "wait", "--for=condition=Ready", "pod/client", "--timeout=90s"); err != nil {
		t.Fatalf("client pod in %s: %v", cluster, err)
	}
}

// TestClusters brings up west and east in gateway mode and checks, as a user would, that each
// is a working Kubernetes cluster and that they meet only where they should.
func TestClusters(t *testing.T) {
	e := up(t, provider.Options{Clusters: []string{"west", "east"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	west, east := e.client(t, "west"), e.client(t, "east")

	t.Run("nodes are Ready and say their version", func(t *testing.T) {
		for cluster, c := range map[string]kubernetes.Interface{"west": west, "east": east} {
			name := e.nodeName(cluster)
			node, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !nodeReady(node) {
				t.Errorf("node %s is not Ready", name)
			}
			if want := e.kubernetesVersion(); want == "" {
				t.Logf("node %s runs kubelet %s; the node image's tag names no version to compare with", name, node.Status.NodeInfo.KubeletVersion)
			} else if v := node.Status.NodeInfo.KubeletVersion; v != want {
				t.Errorf("node %s runs kubelet %q, want %s", name, v, want)
			}
		}
	})

	deployEcho(t, ctx, e, "west")
	deployEcho(t, ctx, e, "east")

	t.Run("a pod resolves a Service through CoreDNS and reaches it through its ClusterIP", func(t *testing.T) {
		svc, err := west.CoreV1().Services("default").Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.kubectl(ctx, "west", "", "exec", "client", "--", echoBin, "resolve", "echo.default.svc.cluster.local")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != svc.Spec.ClusterIP {
			t.Errorf("echo.default.svc.cluster.local resolved to %q, want the ClusterIP %s", out, svc.Spec.ClusterIP)
		}
		eventually(t, 30*time.Second, "an answer from echo through its ClusterIP", func() error {
			return e.askEcho(ctx, "west", "http://echo.default.svc.cluster.local:8080/", "echo echo-")
		})
	})

	t.Run("kubectl logs and exec work", func(t *testing.T) {
		pod := echoPods(t, ctx, west)[0]
		logs, err := e.kubectl(ctx, "west", "", "logs", pod.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs, "serving") {
			t.Errorf("logs of %s do not show the server starting: %q", pod.Name, logs)
		}
		out, err := e.kubectl(ctx, "west", "", "exec", pod.Name, "--", echoBin, "get", "http://127.0.0.1:8080/")
		if err != nil {
			t.Fatal(err)
		}
		if want := "echo " + pod.Name; strings.TrimSpace(out) != want {
			t.Errorf("exec answered %q, want %q", out, want)
		}
	})

	t.Run("a pod in west cannot reach a pod IP in east", func(t *testing.T) {
		target := echoPods(t, ctx, east)[0]
		url := fmt.Sprintf("http://%s:8080/", target.Status.PodIP)
		err := e.askEcho(ctx, "west", url, "echo")
		if err == nil {
			t.Fatalf("west reached east's pod %s at %s in gateway mode", target.Name, url)
		}
		// No route, not a slow or refusing peer: the node has none to east's pod range.
		if !strings.Contains(err.Error(), "network is unreachable") {
			t.Errorf("west's request to %s failed, but not for want of a route: %v", url, err)
		}
	})

	t.Run("a LoadBalancer Service in east gets an address a pod in west reaches", func(t *testing.T) {
		if _, err := e.kubectl(ctx, "east", echoLB, "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		addr := e.awaitLoadBalancer(t, ctx, "east", "default", "echo-lb")
		eventually(t, 60*time.Second, "west's client to reach east's echo-lb at "+addr, func() error {
			return e.askEcho(ctx, "west", "http://"+addr+"/", "echo echo-")
		})
	})

	t.Run("a cert-manager CA Issuer and Certificate become Ready", func(t *testing.T) {
		caCert, caKey := testCA(t)
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: test-ca, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: test-ca, namespace: default}
spec:
  ca: {secretName: test-ca}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: test-leaf, namespace: default}
spec:
  secretName: test-leaf
  commonName: leaf.default.svc
  dnsNames: [leaf.default.svc]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: test-ca, kind: Issuer}
`, base64.StdEncoding.EncodeToString(caCert), base64.StdEncoding.EncodeToString(caKey))
		eventually(t, 60*time.Second, "cert-manager's webhook to accept the Issuer and Certificate", func() error {
			_, err := e.kubectl(ctx, "west", manifest, "apply", "-f", "-")
			return err
		})
		for _, obj := range []string{"issuer/test-ca", "certificate/test-leaf"} {
			if _, err := e.kubectl(ctx, "west", "", "wait", "--for=condition=Ready", obj, "--timeout=60s"); err != nil {
				t.Errorf("%s: %v", obj, err)
			}
		}
		secret, err := west.CoreV1().Secrets("default").Get(ctx, "test-leaf", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(secret.Data["tls.crt"])
		if block == nil {
			t.Fatal("the issued Secret holds no certificate")
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(caCert)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "leaf.default.svc"}); err != nil {
			t.Errorf("the issued certificate does not chain to the CA: %v", err)
		}
	})

	t.Run("a pod failing its readiness probe leaves the EndpointSlice", func(t *testing.T) {
		pod := echoPods(t, ctx, west)[0]
		if _, err := e.kubectl(ctx, "west", "", "exec", pod.Name, "--", echoBin, "unready"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, pod.Name+" to be not ready in echo's EndpointSlice", func() error {
			return endpointReady(ctx, west, pod.Status.PodIP, false)
		})
		if _, err := e.kubectl(ctx, "west", "", "exec", pod.Name, "--", echoBin, "ready"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, pod.Name+" to be ready again in echo's EndpointSlice", func() error {
			return endpointReady(ctx, west, pod.Status.PodIP, true)
		})
	})

	t.Run("an image loaded into east runs there", func(t *testing.T) {
		// The echo binary under another name: an image the nodes have never seen.
		bins, err := e.builder.Repo(ctx, "./multicluster-e2e/cmd/echo")
		if err != nil {
			t.Fatal(err)
		}
		tarball := filepath.Join(t.TempDir(), "loaded.tar")
		if err := images.WriteTarball(images.Spec{Ref: "example.com/loaded:v1", Binary: filepath.Join(bins, "echo")}, tarball); err != nil {
			t.Fatal(err)
		}
		if err := e.p.Load(ctx, tarball, "north"); err == nil || !strings.Contains(err.Error(), `cluster "north" is not up`) {
			t.Errorf("loading into an unknown cluster: %v, want an error naming it", err)
		}
		if err := e.p.Load(ctx, tarball, "east"); err != nil {
			t.Fatal(err)
		}
		pod := `apiVersion: v1
kind: Pod
metadata: {name: loaded, namespace: default}
spec:
  containers:
  - {name: loaded, image: example.com/loaded:v1, imagePullPolicy: Never, args: [serve]}
`
		if _, err := e.kubectl(ctx, "east", pod, "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.kubectl(ctx, "east", "", "wait", "--for=condition=Ready", "pod/loaded", "--timeout=60s"); err != nil {
			t.Fatalf("a pod of the loaded image: %v", err)
		}
	})

	t.Run("a second up over running clusters is refused", func(t *testing.T) {
		err := e.p.Up(ctx, provider.Options{Clusters: []string{"west", "east"}})
		if err == nil || !strings.Contains(err.Error(), "already up") {
			t.Fatalf("second up: %v, want an error saying the clusters are already up", err)
		}
	})
}

// TestFlat checks that with --flat a pod in one cluster reaches a pod IP of another, and, on
// local clusters, that up cleans what a crashed run left behind before it starts.
func TestFlat(t *testing.T) {
	if *providerFlag == "local" {
		leaveCrashedRun(t)
	} else {
		// A crashed local run is links, cgroups and folders on this machine; a crashed kind
		// run is kind clusters, which up refuses to start over like live ones.
		t.Logf("not leaving a crashed run behind first: that part is local-only (running on %s)", *providerFlag)
	}
	e := up(t, provider.Options{Clusters: []string{"west", "east"}, Flat: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	deployEcho(t, ctx, e, "west")
	deployEcho(t, ctx, e, "east")
	target := echoPods(t, ctx, e.client(t, "east"))[0]
	url := fmt.Sprintf("http://%s:8080/", target.Status.PodIP)
	eventually(t, 30*time.Second, "west's client to reach east's pod "+target.Name+" at "+url, func() error {
		return e.askEcho(ctx, "west", url, "echo "+target.Name)
	})
}

// askEcho runs `echo get url` in the client pod of cluster and checks the answer begins with
// want, as "echo echo-" for any echo pod or "echo <pod>" for one.
func (e *env) askEcho(ctx context.Context, cluster, url, want string) error {
	out, err := e.kubectl(ctx, cluster, "", "exec", "client", "--", echoBin, "get", "--timeout=2s", url)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, want) {
		return fmt.Errorf("GET %s from %s answered %q, want %q", url, cluster, out, want)
	}
	return nil
}

// leaveCrashedRun leaves what a run whose nodes died without a down would: the bridge with
// its address, a node's veth, cgroups and the run folder.
func leaveCrashedRun(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{
		{"link", "add", "meshfed0", "type", "bridge"},
		{"addr", "add", "198.18.0.1/24", "dev", "meshfed0"},
		{"link", "add", "mf-ghost", "type", "veth", "peer", "name", "mf-ghost-peer"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, dir := range []string{"/sys/fs/cgroup/memory/meshfed-ghost/kubepods", "/sys/fs/cgroup/cpu/meshfed-ghost", local.DefaultRoot + "/ghost/logs"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(local.DefaultRoot+"/.meshfed-local-run", nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func echoPods(t *testing.T, ctx context.Context, c kubernetes.Interface) []corev1.Pod {
	t.Helper()
	pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no echo pods")
	}
	return pods.Items
}

// endpointReady checks that the echo Service's EndpointSlices list ip with the given readiness.
func endpointReady(ctx context.Context, c kubernetes.Interface, ip string, want bool) error {
	slices, err := c.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=echo"})
	if err != nil {
		return err
	}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			for _, a := range ep.Addresses {
				if a != ip {
					continue
				}
				ready := ep.Conditions.Ready != nil && *ep.Conditions.Ready
				if ready != want {
					return fmt.Errorf("endpoint %s has ready=%v", ip, ready)
				}
				return nil
			}
		}
	}
	if !want {
		return nil // gone from the slice altogether: not ready either
	}
	return fmt.Errorf("endpoint %s is in no EndpointSlice of echo", ip)
}

func testCA(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "e2e test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
