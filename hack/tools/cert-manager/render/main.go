// Command render writes the static manifest of cert-manager that
// multicluster-e2e/addons embeds.
//
// cert-manager publishes that manifest (cert-manager.yaml) only as a release
// asset, which nothing here can download; the Go module holds the Helm chart
// and the CRDs it is made from. This command does in memory what the release
// tooling does (make/manifests.mk in cert-manager v1.11.5): give the chart its
// version, fold deploy/crds into templates/crds.yaml, and run the equivalent
// of
//
//	helm template --api-versions="" --namespace=cert-manager \
//	  --set=creator=static --set=installCRDs=true \
//	  --set=startupapicheck.enabled=false cert-manager <chart>
//
// then write the Namespace, the CRDs and the rest in Helm's install order.
// It lives in a module of its own so that Helm's dependencies never enter the
// module that builds the cert-manager binaries.
//
// Usage, from hack/tools/cert-manager/render (the parent module pins the
// cert-manager version, so ask it where the module is):
//
//	go run . "$(cd .. && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)" \
//	  > ../../../../multicluster-e2e/addons/cert-manager.yaml
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// version is the cert-manager release the chart is stamped with. It must match
// the module version hack/tools/cert-manager requires.
const version = "v1.11.5"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render <cert-manager module dir>")
		os.Exit(2)
	}
	out, err := render(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

func render(moduleDir string) ([]byte, error) {
	files, err := chartFiles(moduleDir)
	if err != nil {
		return nil, err
	}
	chart, err := loader.LoadFiles(files)
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{
		"creator":         "static",
		"installCRDs":     true,
		"startupapicheck": map[string]interface{}{"enabled": false},
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = chartutil.VersionSet{}
	opts := chartutil.ReleaseOptions{Name: "cert-manager", Namespace: "cert-manager", IsInstall: true, Revision: 1}
	top, err := chartutil.ToRenderValues(chart, values, opts, caps)
	if err != nil {
		return nil, err
	}
	rendered, err := engine.Render(chart, top)
	if err != nil {
		return nil, err
	}
	for name := range rendered {
		if filepath.Ext(name) != ".yaml" {
			delete(rendered, name) // NOTES.txt and helpers
		}
	}
	_, manifests, err := releaseutil.SortManifests(rendered, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}

	namespace, err := os.ReadFile(filepath.Join(moduleDir, "deploy/manifests/namespace.yaml"))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# cert-manager %s, rendered from its Helm chart by hack/tools/cert-manager/render.\n", version)
	b.WriteString("# Do not edit: run the command again.\n")
	b.Write(bytes.TrimSpace(namespace))
	b.WriteString("\n")
	// The release manifest puts the CRDs right after the Namespace, before
	// anything that may refer to them.
	for _, crds := range []bool{true, false} {
		for _, m := range manifests {
			if (m.Head.Kind == "CustomResourceDefinition") != crds {
				continue
			}
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, trimLines(m.Content))
		}
	}
	return b.Bytes(), nil
}

// chartFiles reads deploy/charts/cert-manager and prepares it the way the
// release Makefile does before packaging.
func chartFiles(moduleDir string) ([]*loader.BufferedFile, error) {
	chartDir := filepath.Join(moduleDir, "deploy/charts/cert-manager")
	chartYAML, err := os.ReadFile(filepath.Join(chartDir, "Chart.template.yaml"))
	if err != nil {
		return nil, err
	}
	chartYAML = []byte(strings.NewReplacer(
		"version: v0.1.0", "version: "+version,
		"appVersion: v0.1.0", "appVersion: "+version,
		"{{IS_PRERELEASE}}", "false",
	).Replace(string(chartYAML)))
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	files := []*loader.BufferedFile{
		{Name: "Chart.yaml", Data: chartYAML},
		{Name: "values.yaml", Data: values},
	}

	templates, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return nil, err
	}
	for _, t := range templates {
		data, err := os.ReadFile(t)
		if err != nil {
			return nil, err
		}
		files = append(files, &loader.BufferedFile{Name: "templates/" + filepath.Base(t), Data: data})
	}

	// hack/concat-yaml.sh over deploy/crds/*.yaml, wrapped in installCRDs.
	crdFiles, err := filepath.Glob(filepath.Join(moduleDir, "deploy/crds", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var crds bytes.Buffer
	crds.WriteString("{{- if .Values.installCRDs }}\n")
	for i, f := range crdFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			crds.WriteString("---\n")
		}
		crds.Write(data)
	}
	crds.WriteString("{{- end }}\n")
	files = append(files, &loader.BufferedFile{Name: "templates/crds.yaml", Data: crds.Bytes()})
	return files, nil
}

// trimLines drops trailing blanks, which some templates leave behind, so that
// the output is stable under editors and linters.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}
