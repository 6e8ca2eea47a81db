package trustcmd

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/meshfed/pkg/trust"
)

// validateCluster checks a cluster name given with flag.
func validateCluster(flag, name string) error {
	if name == "" {
		return fmt.Errorf("%s is required: the name the federation knows the cluster by, such as %s west", flag, flag)
	}
	if err := trust.ValidateClusterName(name); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// validateCertManagerNamespace checks --cert-manager-namespace.
func validateCertManagerNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("--cert-manager-namespace %q is not a namespace name (%s): give the namespace cert-manager runs in, such as %s", ns, errs[0], trust.DefaultCertManagerNamespace)
	}
	return nil
}

// validateValidity checks a lifetime flag.
func validateValidity(flag string, d time.Duration, example string) error {
	if d <= 0 {
		return fmt.Errorf("%s %s is not positive: give how long it lives, such as %s", flag, d, example)
	}
	return nil
}

// date writes a time for messages.
func date(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// hours writes a whole number of hours as people do: 24h, not 24h0m0s.
func hours(d time.Duration) string { return fmt.Sprintf("%dh", int(d.Hours())) }
