package addons

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

func TestQuickReadiness(t *testing.T) {
	for name, manifest := range map[string][]byte{"cert-manager": CertManager(), "metallb": MetalLB()} {
		t.Run(name, func(t *testing.T) {
			quick, err := QuickReadiness(manifest)
			if err != nil {
				t.Fatal(err)
			}
			before, after := docSeparator.Split(string(manifest), -1), docSeparator.Split(string(quick), -1)
			if got, want := nonEmpty(after), nonEmpty(before); got != want {
				t.Fatalf("%d documents after, %d before", got, want)
			}
			probes := 0
			for _, doc := range after {
				if !strings.Contains(doc, "kind: Deployment") && !strings.Contains(doc, "kind: DaemonSet") {
					continue
				}
				var d appsv1.Deployment // a DaemonSet's pod template sits at the same path
				if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
					t.Fatal(err)
				}
				for _, c := range d.Spec.Template.Spec.Containers {
					if p := c.ReadinessProbe; p != nil {
						probes++
						if p.InitialDelaySeconds != 0 || p.PeriodSeconds != 1 {
							t.Errorf("%s/%s: readiness probe delay %ds period %ds, want 0 and 1", d.Name, c.Name, p.InitialDelaySeconds, p.PeriodSeconds)
						}
					}
				}
			}
			if probes == 0 {
				t.Error("no readiness probe found: the manifest has changed shape")
			}
		})
	}
}

func nonEmpty(docs []string) int {
	n := 0
	for _, d := range docs {
		if strings.TrimSpace(d) != "" {
			n++
		}
	}
	return n
}

func TestSplitCRDs(t *testing.T) {
	for name, manifest := range map[string][]byte{"cert-manager": CertManager(), "metallb": MetalLB()} {
		t.Run(name, func(t *testing.T) {
			crds, rest := SplitCRDs(manifest)
			total := nonEmpty(docSeparator.Split(string(manifest), -1))
			nc, nr := nonEmpty(docSeparator.Split(string(crds), -1)), nonEmpty(docSeparator.Split(string(rest), -1))
			if nc == 0 || nr == 0 || nc+nr != total {
				t.Fatalf("%d CRDs and %d others from %d documents", nc, nr, total)
			}
			if crdKind.Match(rest) {
				t.Error("a CRD was left with the rest")
			}
		})
	}
}
