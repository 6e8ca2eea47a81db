package deploy

import (
	"bytes"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"

	mcscrd "sigs.k8s.io/mcs-api/config/crd"
)

// Manifest is one embedded file: its path under deploy/ and its content, one or more YAML
// documents.
type Manifest struct {
	Path string
	Data []byte
}

//go:embed crds/*.yaml
var crds embed.FS

//go:embed multicluster/*.yaml
var multicluster embed.FS

// The control plane's manifests are the Helm chart's templates: `mesh install` and
// `helm install` render the same files.
//
//go:embed charts/meshfed/templates/*.yaml charts/meshfed/values.yaml
var controlplane embed.FS

// chartTemplates is the folder of the chart's templates.
const chartTemplates = "charts/meshfed/templates/"

// controlplaneOrder is the order to apply the control plane's manifests in.
var controlplaneOrder = []string{
	chartTemplates + "namespace.yaml",
	chartTemplates + "clusterproperties.yaml",
	chartTemplates + "identity.yaml",
	chartTemplates + "destination.yaml",
	chartTemplates + "injector.yaml",
	chartTemplates + "ha.yaml",
}

//go:embed demo/*.yaml
var demo embed.FS

//go:embed viz/*.yaml
var viz embed.FS

// DefaultClusterSetIPRange is the range of ClusterSetIPs `mesh multicluster install` makes
// unless told otherwise: in 198.18.0.0/15, benchmarking space no real network routes, and in
// the local clusters' plan (multicluster-e2e/provider/local) a /20 their service ranges leave
// free (they use 198.19.0.0 to 198.19.95.255, envtest's apiservers 198.19.240.0/20), clear of
// their pod and node ranges. Every cluster may have the same: a ClusterSetIP means something
// only in its own cluster.
const DefaultClusterSetIPRange = "198.19.128.0/20"

// multiclusterOrder is the order to apply the multicluster manifests in: the namespace before
// what lives in it, the ServiceAccounts before the token Secret that names one.
var multiclusterOrder = []string{
	"multicluster/namespace.yaml",
	"multicluster/link-controller.yaml",
	"multicluster/clusterset-ip-range.yaml",
	"multicluster/remote-reader.yaml",
	"multicluster/gateway.yaml",
}

// CRDs returns every CustomResourceDefinition: this repository's, one file each in the order
// of their names, then the MCS API's ServiceExport and ServiceImport.
func CRDs() []Manifest {
	return append(mustRead(crds, globbed(crds, "crds/*.yaml")), mcsCRDs()...)
}

// MulticlusterCRDs returns the CRDs `mesh multicluster install` prints: the Link, then the
// MCS API's ServiceExport and ServiceImport.
func MulticlusterCRDs() []Manifest {
	return append(mustRead(crds, globbed(crds, "crds/multicluster.meshfed.io_*.yaml")), mcsCRDs()...)
}

// ControlPlaneCRDs returns the CRDs `mesh install --crds` prints: the ClusterProperty
// (about.k8s.io, KEP-2149), as `mesh install` writes the cluster's name and clusterset in
// two of them, then the policy CRDs.
func ControlPlaneCRDs() []Manifest {
	return append(mustRead(crds, globbed(crds, "crds/about.k8s.io_*.yaml")), PolicyCRDs()...)
}

// PolicyCRDs returns the CRDs of policy.meshfed.io, in the order of their names. Other
// clusters never read them: each cluster's policy is its own.
func PolicyCRDs() []Manifest {
	return mustRead(crds, globbed(crds, "crds/policy.meshfed.io_*.yaml"))
}

// mcsCRDs are the MCS API's ServiceExport and ServiceImport, as its module ships them: a
// cluster that exports with a ServiceExport needs its CRD, and the link controller reads
// them and writes a ServiceImport per clusterset service.
func mcsCRDs() []Manifest {
	return []Manifest{
		{Path: "sigs.k8s.io/mcs-api/config/crd/multicluster.x-k8s.io_serviceexports.yaml", Data: mcscrd.ServiceExportCRD},
		{Path: "sigs.k8s.io/mcs-api/config/crd/multicluster.x-k8s.io_serviceimports.yaml", Data: mcscrd.ServiceImportCRD},
	}
}

// Multicluster returns the manifests of `mesh multicluster install`, CRDs excluded, in the
// order to apply them.
func Multicluster() []Manifest {
	return mustRead(multicluster, multiclusterOrder)
}

// ControlPlaneValues are what the control plane's manifests differ by from one cluster to
// another: the chart's values (charts/meshfed/values.yaml), by other names.
type ControlPlaneValues struct {
	// Registry and Version make the images: <registry>/<name>:<version>.
	Registry, Version string
	// ClusterName is the name the federation knows the cluster by. It makes the default
	// trust domain; the manifests need it no other way.
	ClusterName string
	// ClusterSet is the name of the clusterset the cluster is a member of (KEP-2149),
	// written with ClusterName in the cluster's ClusterProperties.
	ClusterSet string
	// TrustDomain is the cluster's, as its issuer was made for; empty means
	// <ClusterName>.meshfed.local.
	TrustDomain string
	// HA runs three replicas of each control-plane server, with disruption budgets.
	HA bool
	// InjectorCABundle is the PEM of the CA of the injector's serving certificate, when
	// that certificate is made outside cert-manager; empty means cert-manager makes it.
	InjectorCABundle []byte
}

// DefaultClusterSet is the clusterset's name unless one is given (`mesh install
// --clusterset`, the chart's clusterSet): one name for every cluster that takes it.
const DefaultClusterSet = "meshfed"

// chartValues is v as the chart's templates read it: .Values.<name>, as Helm hands them.
func (v ControlPlaneValues) chartValues() map[string]any {
	return map[string]any{"Values": map[string]any{
		"clusterName": v.ClusterName,
		"clusterSet":  v.ClusterSet,
		"trustDomain": v.TrustDomain,
		"registry":    v.Registry,
		"version":     v.Version,
		"ha":          v.HA,
		// Helm users give it already encoded, as a caBundle is written.
		"injectorCABundle": base64.StdEncoding.EncodeToString(v.InjectorCABundle),
	}}
}

// Image is the image of one of meshfed's binaries.
func (v ControlPlaneValues) Image(name string) string {
	return strings.TrimSuffix(v.Registry, "/") + "/" + name + ":" + v.Version
}

// VizValues are what `mesh viz install` writes into deploy/viz: one cluster's metrics stack.
type VizValues struct {
	// ClusterName is the cluster's, as its Links know it; TrustDomain its trust domain when
	// not <ClusterName>.meshfed.local (empty otherwise).
	ClusterName, TrustDomain string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// Remotes are the linked clusters whose Prometheus the viz API reads, through their
	// mirrors meshfed-prometheus-<name>.
	Remotes []VizRemote
	// VizImage and PrometheusImage are the images of the viz API and of Prometheus.
	VizImage, PrometheusImage string
	// ScrapeInterval and Retention are Prometheus durations ("10s", "6h").
	ScrapeInterval, Retention string
	// Export meshes Prometheus and exports its Service, so linked clusters read it.
	Export bool
	// Rules is Prometheus' rules file (pkg/viz's RecordingRules), which the viz API reads.
	Rules string
}

// VizRemote is a linked cluster whose Prometheus the viz API reads.
type VizRemote struct {
	Name, TrustDomain string
}

// vizOrder is the order to apply the viz manifests in: the namespace first.
var vizOrder = []string{"viz/prometheus.yaml", "viz/api.yaml"}

// Viz returns the manifests of `mesh viz install`, rendered with v, in the order to apply
// them. The values must have been validated: they are written as they are.
func Viz(v VizValues) ([]Manifest, error) {
	return render(mustRead(viz, vizOrder), v)
}

// Demo returns the demo app's manifests, rendered with v (only the images matter).
func Demo(v ControlPlaneValues) ([]Manifest, error) {
	return render(mustRead(demo, []string{"demo/demo.yaml"}), v)
}

// ControlPlane returns the manifests of `mesh install`, rendered with v, in the order to
// apply them: the chart's templates, as `helm template` renders them with the same values.
// The values must have been validated: they are written as they are.
func ControlPlane(v ControlPlaneValues) ([]Manifest, error) {
	return render(mustRead(controlplane, controlplaneOrder), v.chartValues())
}

// funcs are the functions the templates may call besides text/template's own: each one
// Helm has too (from sprig, or Helm's own fail), with the same arguments and meaning, so
// that a template renders alike here and in Helm. A template calling anything else fails
// to parse here.
var funcs = template.FuncMap{
	// list makes a list of its arguments, for ranges over names.
	"list": func(s ...any) []any { return s },
	// trimSuffix removes suffix from the end of s (sprig's argument order: suffix first,
	// so that a pipeline ends in s).
	"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
	// indent puts spaces before every line of s (sprig's indent), to nest a file in YAML.
	"indent": func(spaces int, s string) string {
		pad := strings.Repeat(" ", spaces)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	},
	// fail stops rendering with msg.
	"fail": func(msg string) (string, error) { return "", errors.New(msg) },
}

// render executes each manifest as a template of data.
func render(out []Manifest, data any) ([]Manifest, error) {
	for i, m := range out {
		t, err := template.New(m.Path).Funcs(funcs).Option("missingkey=error").Parse(string(m.Data))
		if err != nil {
			return nil, fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		out[i].Data = b.Bytes()
	}
	return out, nil
}

func globbed(fsys fs.FS, pattern string) []string {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		panic(err) // the pattern is a constant: a bad one is a bug caught by any test
	}
	return names
}

// mustRead reads embedded files, which cannot fail but for a bug in the names above.
func mustRead(fsys fs.FS, names []string) []Manifest {
	out := make([]Manifest, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			panic(fmt.Sprintf("deploy: embedded manifest %s: %v", path.Clean(n), err))
		}
		out = append(out, Manifest{Path: n, Data: b})
	}
	return out
}
