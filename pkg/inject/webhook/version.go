package webhook

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/version"
)

// NativeSidecarsSupported reports whether an apiserver of this version runs init containers
// with restartPolicy Always as sidecars: on by default from Kubernetes 1.29 (beta), off
// before (alpha in 1.28, behind a feature gate the webhook cannot see).
func NativeSidecarsSupported(v *version.Info) (bool, error) {
	major, err := strconv.Atoi(v.Major)
	if err != nil {
		return false, fmt.Errorf("apiserver version %q: major %q is not a number", v.GitVersion, v.Major)
	}
	// Some distributions write the minor as "29+".
	minor, err := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	if err != nil {
		return false, fmt.Errorf("apiserver version %q: minor %q is not a number", v.GitVersion, v.Minor)
	}
	return major > 1 || major == 1 && minor >= 29, nil
}
