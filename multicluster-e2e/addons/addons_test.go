package addons

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Two clusters that differ in every field, so that a value left out of a
// template, or taken from the wrong field, shows in the golden files.
var clusters = map[string]Config{
	"west": {
		ClusterDomain: "cluster.local",
		DNSServiceIP:  "198.19.0.10",
		LBPoolStart:   "198.18.0.100",
		LBPoolEnd:     "198.18.0.119",
	},
	"east": {
		ClusterDomain: "east.example",
		DNSServiceIP:  "198.19.16.10",
		LBPoolStart:   "198.18.0.120",
		LBPoolEnd:     "198.18.0.139",
	},
}

// manifest is one rendered manifest, named for failures and golden files.
type manifest struct {
	name string
	// golden is set for the rendered templates only: the static manifests
	// are files in this folder already.
	golden bool
	data   []byte
}

// manifests renders everything the package serves.
func manifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	for _, cluster := range []string{"east", "west"} {
		cfg := clusters[cluster]
		for _, r := range []struct {
			addon  string
			render func(Config) ([]byte, error)
		}{
			{"coredns", CoreDNS},
			{"metallb-pool", MetalLBPool},
		} {
			data, err := r.render(cfg)
			if err != nil {
				t.Fatalf("%s for %s: %v", r.addon, cluster, err)
			}
			out = append(out, manifest{r.addon + "-" + cluster, true, data})
		}
	}
	return append(out,
		manifest{"cert-manager", false, CertManager()},
		manifest{"metallb", false, MetalLB()},
	)
}

func TestGolden(t *testing.T) {
	for _, m := range manifests(t) {
		if !m.golden {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			path := filepath.Join("testdata", m.name+".yaml")
			if *update {
				if err := os.WriteFile(path, m.data, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test with -update to write it)", err)
			}
			if !bytes.Equal(m.data, want) {
				t.Errorf("rendered manifest differs from %s; if the change is meant, run go test with -update and review the diff", path)
			}
		})
	}
}

// TestManifestsParse checks every manifest is valid multi-document YAML of
// Kubernetes objects whose containers can start from the images built here.
func TestManifestsParse(t *testing.T) {
	known := map[string]Image{}
	for _, img := range Images() {
		known[img.Name] = img
	}
	for _, m := range manifests(t) {
		t.Run(m.name, func(t *testing.T) {
			if bytes.Contains(m.data, []byte("{{")) {
				t.Error("holds a template marker")
			}
			objs := parse(t, m.data)
			if len(objs) == 0 {
				t.Fatal("no objects")
			}
			for _, obj := range objs {
				id := obj.id()
				if obj.str("apiVersion") == "" || obj.str("kind") == "" || obj.str("metadata", "name") == "" {
					t.Errorf("%s: apiVersion, kind or metadata.name missing", id)
				}
				podNonRoot, _ := obj.get("spec", "template", "spec", "securityContext", "runAsNonRoot").(bool)
				podUser := obj.get("spec", "template", "spec", "securityContext", "runAsUser")
				for _, c := range obj.containers() {
					name, _ := c["name"].(string)
					ref, _ := c["image"].(string)
					img, ok := known[ref]
					if !ok {
						t.Errorf("%s container %s: image %q is not one of Images()", id, name, ref)
					}
					// kubelet refuses runAsNonRoot with no uid for an image
					// whose USER is root.
					sc, _ := c["securityContext"].(map[string]any)
					nonRoot, set := sc["runAsNonRoot"].(bool)
					if !set {
						nonRoot = podNonRoot
					}
					if nonRoot && sc["runAsUser"] == nil && podUser == nil && (img.User == "" || img.User == "0") {
						t.Errorf("%s container %s: runAsNonRoot with no uid, but image %s runs as root", id, name, ref)
					}
					if p := c["imagePullPolicy"]; p != "IfNotPresent" {
						t.Errorf("%s container %s: imagePullPolicy %v, want IfNotPresent", id, name, p)
					}
					// The images' ENTRYPOINT is the binary; a command would
					// replace it with a path that may not exist in the image.
					if _, ok := c["command"]; ok {
						t.Errorf("%s container %s: sets command; give args only", id, name)
					}
				}
			}
		})
	}
}

// TestImagesAllUsed keeps Images() and the manifests in step both ways: an
// image no manifest uses is built and imported for nothing.
func TestImagesAllUsed(t *testing.T) {
	used := map[string]bool{}
	for _, m := range manifests(t) {
		for _, obj := range parse(t, m.data) {
			for _, c := range obj.containers() {
				used[c["image"].(string)] = true
			}
		}
	}
	for _, img := range Images() {
		if !used[img.Name] {
			t.Errorf("image %s is in Images() but no manifest uses it", img.Name)
		}
		if (img.Tool == "") == (img.Repo == "") || img.Binary == "" {
			t.Errorf("image %s: want one of Tool and Repo, and Binary", img.Name)
		}
		if img.Repo != "" {
			if _, err := os.Stat(filepath.Join("..", "..", img.Repo, "main.go")); err != nil {
				t.Errorf("image %s: main package: %v", img.Name, err)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join("..", "..", "hack", "tools", img.Tool, "go.mod")); err != nil {
			t.Errorf("image %s: tools module: %v", img.Name, err)
		}
	}
}

func TestCoreDNS(t *testing.T) {
	for name, cfg := range clusters {
		t.Run(name, func(t *testing.T) {
			data, err := CoreDNS(cfg)
			if err != nil {
				t.Fatal(err)
			}
			objs := parse(t, data)
			svc := find(t, objs, "Service", "kube-dns")
			if got := svc.str("spec", "clusterIP"); got != cfg.DNSServiceIP {
				t.Errorf("kube-dns clusterIP %q, want %q", got, cfg.DNSServiceIP)
			}
			corefile := find(t, objs, "ConfigMap", "coredns").str("data", "Corefile")
			if want := "kubernetes " + cfg.ClusterDomain + " in-addr.arpa ip6.arpa"; !strings.Contains(corefile, want) {
				t.Errorf("Corefile lacks %q:\n%s", want, corefile)
			}
			// Nothing may reach the host's resolver.
			for _, plugin := range []string{"forward", "grpc", "loop"} {
				for _, line := range strings.Split(corefile, "\n") {
					if f := strings.Fields(line); len(f) > 0 && f[0] == plugin {
						t.Errorf("Corefile uses %s: %q", plugin, line)
					}
				}
			}
			deploy := find(t, objs, "Deployment", "coredns")
			if got := deploy.str("spec", "template", "spec", "dnsPolicy"); got != "Default" {
				t.Errorf("dnsPolicy %q, want Default", got)
			}
		})
	}
}

func TestMetalLBPool(t *testing.T) {
	cfg := clusters["west"]
	data, err := MetalLBPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, data)
	pool := find(t, objs, "IPAddressPool", "local")
	addrs, _ := pool.get("spec", "addresses").([]any)
	if want := cfg.LBPoolStart + "-" + cfg.LBPoolEnd; len(addrs) != 1 || addrs[0] != want {
		t.Errorf("pool addresses %v, want [%s]", addrs, want)
	}
	adv := find(t, objs, "L2Advertisement", "local")
	if pools, _ := adv.get("spec", "ipAddressPools").([]any); len(pools) != 1 || pools[0] != "local" {
		t.Errorf("L2Advertisement pools %v, want [local]", pools)
	}
	for _, obj := range objs {
		if ns := obj.str("metadata", "namespace"); ns != "metallb-system" {
			t.Errorf("%s in namespace %q, want metallb-system", obj.id(), ns)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	good := clusters["west"]
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		render func(Config) ([]byte, error)
	}{
		{"no domain", func(c *Config) { c.ClusterDomain = "" }, CoreDNS},
		{"domain with trailing dot", func(c *Config) { c.ClusterDomain = "cluster.local." }, CoreDNS},
		{"domain with brace", func(c *Config) { c.ClusterDomain = "cluster.local {" }, CoreDNS},
		{"upper-case domain", func(c *Config) { c.ClusterDomain = "Cluster.local" }, CoreDNS},
		{"no DNS IP", func(c *Config) { c.DNSServiceIP = "" }, CoreDNS},
		{"DNS IP with prefix", func(c *Config) { c.DNSServiceIP = "198.19.0.10/16" }, CoreDNS},
		{"DNS IP with zone", func(c *Config) { c.DNSServiceIP = "fe80::1%eth0" }, CoreDNS},
		{"no pool start", func(c *Config) { c.LBPoolStart = "" }, MetalLBPool},
		{"bad pool end", func(c *Config) { c.LBPoolEnd = "198.18.0.256" }, MetalLBPool},
		{"pool backwards", func(c *Config) { c.LBPoolStart, c.LBPoolEnd = c.LBPoolEnd, c.LBPoolStart }, MetalLBPool},
		{"pool mixes families", func(c *Config) { c.LBPoolEnd = "fd00::1" }, MetalLBPool},
		{"pool mapped IPv4", func(c *Config) { c.LBPoolEnd = "::ffff:198.18.0.119" }, MetalLBPool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			if _, err := tc.render(cfg); err == nil {
				t.Errorf("no error for %+v", cfg)
			}
		})
	}
}

// TestMetalLBUpstream checks the embedded metallb-native.yaml is upstream's,
// and that serving it changes nothing but the pull policy.
func TestMetalLBUpstream(t *testing.T) {
	// sha256 of config/manifests/metallb-native.yaml in go.universe.tf/metallb
	// v0.15.2. Update it with the file when MetalLBVersion moves.
	const upstream = "a1b04c376fb39c93265f551fe23716a3ae6e09b790edb3bf257d3fc784c35a18"
	sum := sha256.Sum256(metalLBNative)
	if got := hex.EncodeToString(sum[:]); got != upstream {
		t.Errorf("metallb-native.yaml has sha256 %s, want upstream's %s", got, upstream)
	}
	var kept []string
	for _, line := range strings.SplitAfter(string(MetalLB()), "\n") {
		if strings.TrimSpace(line) != "imagePullPolicy: IfNotPresent" {
			kept = append(kept, line)
		}
	}
	if strings.Join(kept, "") != string(metalLBNative) {
		t.Error("MetalLB() differs from upstream in more than imagePullPolicy lines")
	}
}

func TestCertManager(t *testing.T) {
	objs := parse(t, CertManager())
	if objs[0].str("kind") != "Namespace" || objs[0].str("metadata", "name") != "cert-manager" {
		t.Errorf("first object is %s, want the cert-manager Namespace", objs[0].id())
	}
	kinds := map[string]int{}
	for _, obj := range objs {
		kinds[obj.str("kind")]++
	}
	for kind, n := range map[string]int{"CustomResourceDefinition": 6, "Deployment": 3, "MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1} {
		if kinds[kind] != n {
			t.Errorf("%d %s, want %d", kinds[kind], kind, n)
		}
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		wh := find(t, objs, kind, "cert-manager-webhook")
		if got := wh.str("metadata", "annotations", "cert-manager.io/inject-ca-from-secret"); got != "cert-manager/cert-manager-webhook-ca" {
			t.Errorf("%s: cainjector annotation %q", kind, got)
		}
	}
	ctrl := find(t, objs, "Deployment", "cert-manager")
	args, _ := ctrl.containers()[0]["args"].([]any)
	for _, want := range []string{"--cluster-resource-namespace=$(POD_NAMESPACE)", "--leader-election-namespace=kube-system"} {
		if !slices.Contains(args, any(want)) {
			t.Errorf("controller args %v lack %s", args, want)
		}
	}
	for _, obj := range objs {
		if obj.str("kind") == "CustomResourceDefinition" && obj.str("metadata", "labels", "app.kubernetes.io/version") != CertManagerVersion {
			t.Errorf("%s: labels %v, want the rendered chart labels", obj.id(), obj.get("metadata", "labels"))
		}
	}
}

type object map[string]any

func (o object) get(path ...string) any {
	var v any = map[string]any(o)
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (o object) str(path ...string) string {
	s, _ := o.get(path...).(string)
	return s
}

func (o object) id() string {
	return o.str("kind") + " " + o.str("metadata", "namespace") + "/" + o.str("metadata", "name")
}

// containers returns the containers and init containers of a workload's pod
// template, or of a Pod.
func (o object) containers() []map[string]any {
	spec := o.get("spec", "template", "spec")
	if o.str("kind") == "Pod" {
		spec = o.get("spec")
	}
	m, _ := spec.(map[string]any)
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := m[key].([]any)
		for _, c := range list {
			if c, ok := c.(map[string]any); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// parse splits a manifest into its documents and parses each strictly, so
// that a duplicated key (such as a second imagePullPolicy) fails as it would
// in kubectl.
func parse(t *testing.T, data []byte) []object {
	t.Helper()
	var objs []object
	for i, doc := range splitDocuments(string(data)) {
		var obj object
		if err := yaml.UnmarshalStrict([]byte(doc), &obj); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs
}

func splitDocuments(s string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.TrimRight(line, "\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, obj := range objs {
		if obj.str("kind") == kind && obj.str("metadata", "name") == name {
			return obj
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}
