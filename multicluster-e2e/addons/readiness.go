package addons

import (
	"bytes"
	"fmt"
	"regexp"

	"sigs.k8s.io/yaml"
)

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// QuickReadiness returns manifest with the readiness probe of every Deployment and DaemonSet
// container checking once a second from the container's start. Upstream's probes wait 5 to
// 10 seconds before the first check and as long between checks, which on a local machine
// is most of the time a cluster takes to come up. Liveness probes are left alone: restarting
// a slow starter sooner helps nobody.
func QuickReadiness(manifest []byte) ([]byte, error) {
	var out bytes.Buffer
	for i, doc := range docSeparator.Split(string(manifest), -1) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if kind, _ := obj["kind"].(string); kind != "Deployment" && kind != "DaemonSet" {
			writeDoc(&out, []byte(doc))
			continue
		}
		containers, _ := dig(obj, "spec", "template", "spec")["containers"].([]any)
		for _, c := range containers {
			c, _ := c.(map[string]any)
			if probe, ok := c["readinessProbe"].(map[string]any); ok {
				probe["initialDelaySeconds"] = 0
				probe["periodSeconds"] = 1
			}
		}
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		writeDoc(&out, data)
	}
	return out.Bytes(), nil
}

func writeDoc(out *bytes.Buffer, doc []byte) {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return
	}
	if out.Len() > 0 {
		out.WriteString("---\n")
	}
	out.Write(doc)
	out.WriteString("\n")
}

func dig(obj map[string]any, path ...string) map[string]any {
	for _, p := range path {
		obj, _ = obj[p].(map[string]any)
	}
	return obj
}

var crdKind = regexp.MustCompile(`(?m)^kind:\s*CustomResourceDefinition\s*$`)

// SplitCRDs separates the CustomResourceDefinitions of a manifest from everything else. Applied
// together, a controller may start before its CRDs are established, fail its first list, and
// wait out a back-off longer than its liveness probe allows; applied first and awaited, the
// CRDs are served before anything watches them.
func SplitCRDs(manifest []byte) (crds, rest []byte) {
	var c, r bytes.Buffer
	for _, doc := range docSeparator.Split(string(manifest), -1) {
		if crdKind.MatchString(doc) {
			writeDoc(&c, []byte(doc))
		} else {
			writeDoc(&r, []byte(doc))
		}
	}
	return c.Bytes(), r.Bytes()
}
