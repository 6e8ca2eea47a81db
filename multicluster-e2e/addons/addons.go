package addons

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"text/template"
)

// The versions of the add-ons. Each must match the version its tools module
// under hack/tools requires, or for CoreDNS this repository's go.mod (it is built
// from cmd/coredns, with meshfed's clusterset plugin): the image tags below claim it.
const (
	CoreDNSVersion     = "v1.14.7"
	CertManagerVersion = "v1.11.5"
	MetalLBVersion     = "v0.15.2"
)

// Config is what differs between clusters.
type Config struct {
	// ClusterDomain is the cluster's DNS domain, such as "cluster.local";
	// it must equal kubelet's clusterDomain.
	ClusterDomain string
	// DNSServiceIP is the kube-dns Service's clusterIP, such as
	// "198.19.0.10"; it must equal kubelet's clusterDNS and lie in the
	// cluster's service range.
	DNSServiceIP string
	// LBPoolStart and LBPoolEnd bound, inclusively, the addresses MetalLB
	// gives LoadBalancer Services, such as 198.18.0.100 to 198.18.0.119.
	// They lie on the network between clusters, and the pools of two
	// clusters must not overlap.
	LBPoolStart, LBPoolEnd string
}

const coreDNSImage = "registry.k8s.io/coredns/coredns:" + CoreDNSVersion

// Image is one image an add-on needs: the name the manifests use, and the
// binary it packs.
type Image struct {
	// Name is the image reference the manifests use, tag included.
	Name string
	// Tool is the folder under hack/tools whose module builds the binary.
	Tool string
	// Repo, instead of Tool, is the main package of this repository that builds it.
	Repo string
	// Binary is the name of the built binary, the image's ENTRYPOINT.
	Binary string
	// User is the image's USER, empty for root. It matters where a pod asks
	// for runAsNonRoot without naming a uid, as cert-manager's do: kubelet
	// then refuses an image that would run as root. The values are those of
	// the upstream images.
	User string
}

// Images returns every image the manifests of this package refer to.
func Images() []Image {
	return []Image{
		{Name: coreDNSImage, Repo: "./cmd/coredns", Binary: "coredns"},
		{Name: "quay.io/jetstack/cert-manager-controller:" + CertManagerVersion, Tool: "cert-manager", Binary: "controller", User: "1000"},
		{Name: "quay.io/jetstack/cert-manager-webhook:" + CertManagerVersion, Tool: "cert-manager", Binary: "webhook", User: "1000"},
		{Name: "quay.io/jetstack/cert-manager-cainjector:" + CertManagerVersion, Tool: "cert-manager", Binary: "cainjector", User: "1000"},
		// Root, as upstream's distroless/static images: the controller's pod
		// names its own uid, and the speaker needs NET_RAW in its effective
		// set to answer ARP, which a non-root user would not get from the
		// capabilities its pod adds.
		{Name: "quay.io/metallb/controller:" + MetalLBVersion, Tool: "metallb", Binary: "controller"},
		{Name: "quay.io/metallb/speaker:" + MetalLBVersion, Tool: "metallb", Binary: "speaker"},
	}
}

var (
	//go:embed coredns.yaml.tmpl metallb-pool.yaml.tmpl
	templateFiles embed.FS

	// cert-manager.yaml is generated; see hack/tools/cert-manager/render.
	//go:embed cert-manager.yaml
	certManagerManifest []byte

	// metallb-native.yaml is config/manifests/metallb-native.yaml of
	// go.universe.tf/metallb at MetalLBVersion, unchanged, so that an update
	// is a copy and a diff against upstream is empty.
	//go:embed metallb-native.yaml
	metalLBNative []byte

	// missingkey=error: a field renamed in Config must fail the render, not
	// leave "<no value>" in a manifest.
	templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFiles, "*.tmpl"))

	metalLBManifest = pinPullPolicy(metalLBNative)
)

// CoreDNS returns the manifest of the cluster's DNS server: its RBAC,
// Corefile, Deployment and the kube-dns Service at cfg.DNSServiceIP.
func CoreDNS(cfg Config) ([]byte, error) {
	if err := validateDomain(cfg.ClusterDomain); err != nil {
		return nil, fmt.Errorf("cluster domain: %w", err)
	}
	ip, err := parseAddr(cfg.DNSServiceIP)
	if err != nil {
		return nil, fmt.Errorf("DNS service IP: %w", err)
	}
	return render("coredns.yaml.tmpl", struct {
		ClusterDomain string
		DNSServiceIP  string
		Image         string
	}{cfg.ClusterDomain, ip.String(), coreDNSImage})
}

// CertManager returns everything cert-manager needs, for kubectl apply
// --server-side: the namespace, the CRDs, RBAC, the controller, webhook and
// cainjector Deployments, their Services, and the webhook configurations
// whose CA bundle the cainjector fills in. It is the same for every cluster.
// Its webhook refuses cert-manager resources until it is ready, so wait for
// the cert-manager-webhook Deployment before creating an Issuer.
func CertManager() []byte {
	return bytes.Clone(certManagerManifest)
}

// MetalLB returns MetalLB's native (L2, no FRR) manifest. It is the same for
// every cluster. The controller makes the speakers' memberlist Secret and its
// own webhook certificate; the speaker DaemonSet runs with hostNetwork and
// NET_RAW to answer ARP for the Services' addresses.
func MetalLB() []byte {
	return bytes.Clone(metalLBManifest)
}

// MetalLBPool returns the IPAddressPool "local" holding cfg's range and the
// L2Advertisement that announces it. MetalLB's webhook validates both, so
// apply it once MetalLB's controller is ready.
func MetalLBPool(cfg Config) ([]byte, error) {
	start, err := parseAddr(cfg.LBPoolStart)
	if err != nil {
		return nil, fmt.Errorf("LB pool start: %w", err)
	}
	end, err := parseAddr(cfg.LBPoolEnd)
	if err != nil {
		return nil, fmt.Errorf("LB pool end: %w", err)
	}
	if start.Is4() != end.Is4() {
		return nil, fmt.Errorf("LB pool %s-%s mixes IPv4 and IPv6", start, end)
	}
	if end.Less(start) {
		return nil, fmt.Errorf("LB pool %s-%s ends before it starts", start, end)
	}
	return render("metallb-pool.yaml.tmpl", struct {
		LBPoolStart string
		LBPoolEnd   string
	}{start.String(), end.String()})
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// parseAddr accepts a plain IPv4 or IPv6 address. Zones and IPv4-mapped
// IPv6 forms are refused: neither means anything in a Service or a pool, and
// the mapped form would defeat the family check of a range.
func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("not set")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if ip.Zone() != "" || ip.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q: want a plain IPv4 or IPv6 address", s)
	}
	return ip, nil
}

// validateDomain checks that d is a DNS-1123 subdomain, as kubelet's
// clusterDomain must be. It matters here because d is written into the
// Corefile unquoted: anything else would at best stop CoreDNS from starting.
func validateDomain(d string) error {
	if d == "" {
		return errors.New("not set")
	}
	if len(d) > 253 {
		return fmt.Errorf("%q: longer than 253 characters", d)
	}
	for _, label := range strings.Split(d, ".") {
		if !isDNSLabel(label) {
			return fmt.Errorf("%q: %q is not a lower-case DNS label", d, label)
		}
	}
	return nil
}

func isDNSLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// pinPullPolicy sets imagePullPolicy: IfNotPresent on every container of an
// upstream manifest that leaves it to the default, by adding the key beside
// each "image:" line. Nothing here can pull an image; the default is already
// IfNotPresent for a tag other than latest, but saying so keeps a retag to
// :latest from turning every start into a failed pull. A manifest that sets
// a pull policy anywhere is returned as it is, since adding a second key
// would make invalid YAML; the tests check the result either way.
func pinPullPolicy(manifest []byte) []byte {
	if bytes.Contains(manifest, []byte("imagePullPolicy:")) {
		return manifest
	}
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(manifest), "\n") {
		out.WriteString(line)
		key := strings.TrimLeft(line, " ")
		indent := len(line) - len(key)
		if rest, ok := strings.CutPrefix(key, "- "); ok {
			key, indent = rest, indent+2
		}
		// A container's image is a scalar on the key's own line; a schema
		// property named image is a mapping and has nothing after the colon.
		value, ok := strings.CutPrefix(key, "image:")
		if !ok || strings.TrimSpace(value) == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			out.WriteString("\n")
		}
		out.WriteString(strings.Repeat(" ", indent) + "imagePullPolicy: IfNotPresent\n")
	}
	return out.Bytes()
}

// Install applies the add-ons of cfg as every provider does: the CRDs of all of them first,
// in one go, established before any controller that watches them starts (established is
// awaited by waitEstablished); then each add-on's other objects, with quick readiness probes,
// side by side. apply applies one multi-document manifest. The MetalLB pool is not among
// them: its webhook refuses it until MetalLB serves, which the caller awaits.
func Install(ctx context.Context, cfg Config, apply func(context.Context, []byte) error, waitEstablished func(context.Context) error) error {
	coredns, err := CoreDNS(cfg)
	if err != nil {
		return err
	}
	var crds bytes.Buffer
	var rest [][]byte
	for _, m := range [][]byte{coredns, CertManager(), MetalLB()} {
		c, r := SplitCRDs(m)
		if len(c) > 0 {
			crds.WriteString("---\n")
			crds.Write(c)
		}
		quick, err := QuickReadiness(r)
		if err != nil {
			return err
		}
		rest = append(rest, quick)
	}
	if err := apply(ctx, crds.Bytes()); err != nil {
		return err
	}
	if err := waitEstablished(ctx); err != nil {
		return err
	}
	errs := make([]error, len(rest))
	var wg sync.WaitGroup
	for i, m := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = apply(ctx, m)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
