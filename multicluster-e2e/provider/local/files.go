package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// layout names the files of one cluster under the run folder.
type layout struct{ dir string }

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir}, elem...)...)
}
func (l layout) pki(name string) string    { return l.path("pki", name) }
func (l layout) config(name string) string { return l.path("config", name) }
func (l layout) log(name string) string    { return l.path("logs", name+".log") }
func (l layout) hold(name string) string   { return l.path("hold", name) }
func (l layout) containerdSocket() string  { return l.path("containerd", "containerd.sock") }
func (l layout) nodeSpec() string          { return l.config("node.json") }

// kubeconfig makes a kubeconfig for one identity of the cluster, as client certificates
// embedded, so the file stands alone.
func kubeconfig(c cluster, server string, p *pki, identity, context string) *clientcmdapi.Config {
	kp := p.certs[identity]
	keyPEM, _ := kp.keyPEM()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[context] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.ca.certPEM()}
	cfg.AuthInfos[context] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.certPEM(), ClientKeyData: keyPEM}
	cfg.Contexts[context] = &clientcmdapi.Context{Cluster: context, AuthInfo: context}
	cfg.CurrentContext = context
	return cfg
}

func apiServerURL(host string) string { return fmt.Sprintf("https://%s:%d", host, apiPort) }

// writeConfigs writes what the node's components read: kubeconfigs, kubelet's and containerd's
// configuration and the CNI network.
func writeConfigs(c cluster, l layout, p *pki, pauseImage string) error {
	for _, d := range []string{"config", "logs", "cni/conf", "cni/ipam", "containerd", "kubelet", "etcd"} {
		if err := os.MkdirAll(l.path(d), 0o755); err != nil {
			return err
		}
	}
	local := apiServerURL("127.0.0.1")
	node := apiServerURL(c.NodeIP.String())
	for _, k := range []struct{ identity, server string }{
		{"controller-manager", local},
		{"scheduler", local},
		{"kube-proxy", node},
		{"kubelet-client", node},
	} {
		if err := clientcmd.WriteToFile(*kubeconfig(c, k.server, p, k.identity, c.Name), l.config(k.identity+".kubeconfig")); err != nil {
			return err
		}
	}
	data := map[string]any{
		"C":              c,
		"Pause":          pauseImage,
		"CA":             l.pki("ca.crt"),
		"KubeletCert":    l.pki("kubelet.crt"),
		"KubeletKey":     l.pki("kubelet.key"),
		"Socket":         l.containerdSocket(),
		"ContainerdRoot": l.path("containerd", "root"),
		"CNIConf":        l.path("cni", "conf"),
		"IPAM":           l.path("cni", "ipam"),
	}
	for name, tmpl := range map[string]*template.Template{
		"kubelet.yaml":    kubeletConfig,
		"containerd.toml": containerdConfig,
	} {
		if err := writeTemplate(tmpl, data, l.config(name)); err != nil {
			return err
		}
	}
	return writeTemplate(cniConfig, data, l.path("cni", "conf", "10-meshfed.conflist"))
}

func writeTemplate(t *template.Template, data any, path string) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("rendering %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// syncFrequency is how soon a Secret's update reaches a pod's volume: add-ons that write their
// own serving certificate and wait to see it mounted (MetalLB's controller) would otherwise
// wait out the default minute, past their liveness probe.
//
// The kubelet runs with cgroupfs on cgroup v1 under a root of its own per cluster, so two
// kubelets on one machine do not fight over /kubepods. DNS goes to the cluster's CoreDNS only:
// resolvConf is empty so no pod learns the host's resolver, which is outside the run.
var kubeletConfig = template.Must(template.New("kubelet").Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /meshfed-{{.C.Name}}
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{{.Socket}}
clusterDNS: [{{.C.DNSServiceIP}}]
clusterDomain: cluster.local
resolvConf: ""
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{.CA}}
authorization:
  mode: Webhook
tlsCertFile: {{.KubeletCert}}
tlsPrivateKeyFile: {{.KubeletKey}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "0%"
  nodefs.available: "0%"
  imagefs.available: "0%"
nodeStatusReportFrequency: 10s
syncFrequency: 5s
`))

// restrict_oom_score_adj: without CAP_SYS_RESOURCE runc cannot lower a container's
// oom_score_adj, and every sandbox would fail. Nothing can be pulled, so the pause image is one
// this repository builds and the provider imports.
var containerdConfig = template.Must(template.New("containerd").Parse(`version = 2
root = "{{.ContainerdRoot}}"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{{.Socket}}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.Pause}}"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{.CNIConf}}"
`))

// ipMasq is off: the node masquerades itself (see node.go), so that flat mode can keep pod
// source addresses across clusters.
var cniConfig = template.Must(template.New("cni").Parse(`{
  "cniVersion": "0.4.0",
  "name": "meshfed",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.IPAM}}",
        "ranges": [[{"subnet": "{{.C.PodCIDR}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`))

// nodeSpec is what the node's init reads: everything it needs to set up the inside of the
// node and run its components. The provider writes it; the init runs in the new namespaces.
type nodeSpec struct {
	Name        string
	Dir         string
	NodeIP      string // with prefix length, as "198.18.0.11/24"
	ServiceCIDR string
	// ClusterSetIPRange is routed as ServiceCIDR is: its addresses are cluster IPs too.
	ClusterSetIPRange string
	PodCIDR           string
	// KeepSource is the destination range pod traffic keeps its source address to: the
	// cluster's own pod range, or every cluster's in flat mode.
	KeepSource string
	Routes     []route
	Components []component
}

type route struct{ Dst, Via string }

// component is one process of the node, restarted when it exits.
type component struct {
	Name string
	Path string
	Args []string
	Env  []string `json:",omitempty"`
	// Ready is a TCP address accepting connections once the component serves; the components
	// after it start then. Empty: start the next at once.
	Ready string `json:",omitempty"`
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// components are the processes of one node, in start order.
func components(c cluster, l layout, bins binaries) []component {
	pki := l.pki
	ip := c.NodeIP.String()
	return []component{
		{Name: "etcd", Path: bins.etcd, Ready: "127.0.0.1:2379", Args: []string{
			"--name=" + c.Name,
			"--data-dir=" + l.path("etcd"),
			"--listen-client-urls=http://127.0.0.1:2379",
			"--advertise-client-urls=http://127.0.0.1:2379",
			"--listen-peer-urls=http://127.0.0.1:2380",
			"--initial-advertise-peer-urls=http://127.0.0.1:2380",
			"--initial-cluster=" + c.Name + "=http://127.0.0.1:2380",
			"--snapshot-count=10000",
			// The apiserver's watch cache needs etcd's progress to answer a watch or list
			// "from now" on a quiet resource; 3.4's default, every 10 minutes, stalls them.
			"--experimental-watch-progress-notify-interval=1s",
			"--logger=zap",
		}},
		{Name: "containerd", Path: bins.containerd, Args: []string{"--config=" + l.config("containerd.toml")}},
		{Name: "kube-apiserver", Path: bins.kube("kube-apiserver"), Args: []string{
			"--etcd-servers=http://127.0.0.1:2379",
			"--bind-address=0.0.0.0",
			"--advertise-address=" + ip,
			fmt.Sprintf("--secure-port=%d", apiPort),
			"--tls-cert-file=" + pki("apiserver.crt"),
			"--tls-private-key-file=" + pki("apiserver.key"),
			"--client-ca-file=" + pki("ca.crt"),
			"--service-account-key-file=" + pki("sa.pub"),
			"--service-account-signing-key-file=" + pki("sa.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=" + c.ServiceCIDR.String(),
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--allow-privileged=true",
			"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
			"--kubelet-certificate-authority=" + pki("ca.crt"),
			"--kubelet-preferred-address-types=InternalIP",
			"--profiling=false",
		}},
		{Name: "kube-controller-manager", Path: bins.kube("kube-controller-manager"), Args: []string{
			"--kubeconfig=" + l.config("controller-manager.kubeconfig"),
			"--service-account-private-key-file=" + pki("sa.key"),
			"--root-ca-file=" + pki("ca.crt"),
			"--cluster-signing-cert-file=" + pki("ca.crt"),
			"--cluster-signing-key-file=" + pki("ca.key"),
			"--use-service-account-credentials",
			// Pod ranges come from the CNI configuration, not from node podCIDRs.
			"--controllers=*,-nodeipam",
			"--leader-elect=false",
			"--secure-port=0",
			"--profiling=false",
		}},
		{Name: "kube-scheduler", Path: bins.kube("kube-scheduler"), Args: []string{
			"--kubeconfig=" + l.config("scheduler.kubeconfig"),
			"--leader-elect=false",
			"--secure-port=0",
			"--profiling=false",
		}},
		{Name: "kubelet", Path: bins.kube("kubelet"), Args: []string{
			"--config=" + l.config("kubelet.yaml"),
			"--kubeconfig=" + l.config("kubelet-client.kubeconfig"),
			"--root-dir=" + l.path("kubelet"),
			"--hostname-override=" + c.Name,
			"--node-ip=" + ip,
		}},
		{Name: "kube-proxy", Path: bins.kube("kube-proxy"), Args: []string{
			"--kubeconfig=" + l.config("kube-proxy.kubeconfig"),
			"--proxy-mode=iptables",
			"--cluster-cidr=" + c.PodCIDR.String(),
			"--hostname-override=" + c.Name,
			"--metrics-bind-address=127.0.0.1:10249",
			"--healthz-bind-address=127.0.0.1:10256",
			// The conntrack table size is the host's to set, not a node's.
			"--conntrack-max-per-core=0",
		}},
	}
}
