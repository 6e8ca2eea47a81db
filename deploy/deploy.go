package deploy

import (
	"bytes"
	"embed"
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

//go:embed controlplane/*.yaml
var controlplane embed.FS

// controlplaneOrder is the order to apply the control plane's manifests in.
var controlplaneOrder = []string{
	"controlplane/namespace.yaml",
	"controlplane/identity.yaml",
	"controlplane/destination.yaml",
	"controlplane/injector.yaml",
	"controlplane/ha.yaml",
}

//go:embed demo/*.yaml
var demo embed.FS

// multiclusterOrder is the order to apply the multicluster manifests in: the namespace before
// what lives in it, the ServiceAccounts before the token Secret that names one.
var multiclusterOrder = []string{
	"multicluster/namespace.yaml",
	"multicluster/link-controller.yaml",
	"multicluster/remote-reader.yaml",
	"multicluster/gateway.yaml",
}

// CRDs returns every CustomResourceDefinition: this repository's, one file each in the order
// of their names, then the MCS API's ServiceExport.
func CRDs() []Manifest {
	return append(mustRead(crds, globbed(crds, "crds/*.yaml")), serviceExportCRD())
}

// MulticlusterCRDs returns the CRDs `mesh multicluster install` prints: the Link, then the
// MCS API's ServiceExport.
func MulticlusterCRDs() []Manifest {
	return append(mustRead(crds, globbed(crds, "crds/multicluster.meshfed.io_*.yaml")), serviceExportCRD())
}

// PolicyCRDs returns the CRDs of policy.meshfed.io, in the order of their names. Other
// clusters never read them: each cluster's policy is its own.
func PolicyCRDs() []Manifest {
	return mustRead(crds, globbed(crds, "crds/policy.meshfed.io_*.yaml"))
}

// serviceExportCRD is the MCS API's ServiceExport, as its module ships it: a cluster that
// exports with it needs the CRD, and meshfed reads it.
func serviceExportCRD() Manifest {
	return Manifest{Path: "sigs.k8s.io/mcs-api/config/crd/multicluster.x-k8s.io_serviceexports.yaml", Data: mcscrd.ServiceExportCRD}
}

// Multicluster returns the manifests of `mesh multicluster install`, CRDs excluded, in the
// order to apply them.
func Multicluster() []Manifest {
	return mustRead(multicluster, multiclusterOrder)
}

// ControlPlaneValues are what the control plane's manifests differ by from one cluster to
// another.
type ControlPlaneValues struct {
	// Registry and Version make the images: <registry>/<name>:<version>.
	Registry, Version string
	// TrustDomain is the cluster's, as its issuer was made for.
	TrustDomain string
	// HA runs three replicas of each control-plane server, with disruption budgets.
	HA bool
}

// Image is the image of one of meshfed's binaries.
func (v ControlPlaneValues) Image(name string) string {
	return strings.TrimSuffix(v.Registry, "/") + "/" + name + ":" + v.Version
}

// Demo returns the demo app's manifests, rendered with v (only the images matter).
func Demo(v ControlPlaneValues) ([]Manifest, error) {
	return render(mustRead(demo, []string{"demo/demo.yaml"}), v)
}

// ControlPlane returns the manifests of `mesh install`, rendered with v, in the order to
// apply them. The values must have been validated: they are written as they are.
func ControlPlane(v ControlPlaneValues) ([]Manifest, error) {
	return render(mustRead(controlplane, controlplaneOrder), v)
}

// render executes each manifest as a template of v. "list" makes a list of its arguments,
// for ranges over names.
func render(out []Manifest, v ControlPlaneValues) ([]Manifest, error) {
	funcs := template.FuncMap{"list": func(s ...string) []string { return s }}
	for i, m := range out {
		t, err := template.New(m.Path).Funcs(funcs).Option("missingkey=error").Parse(string(m.Data))
		if err != nil {
			return nil, fmt.Errorf("deploy/%s: %w", m.Path, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, v); err != nil {
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
