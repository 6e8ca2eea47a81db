package gateway

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/meshfed/meshfed/pkg/trust"
)

// AllowList is the remote clusters that may call the gateway: each cluster's name by its
// trust domain. A caller's certificate proves its trust domain; the list turns it into the
// cluster name used in logs and metrics.
type AllowList map[string]string

// ParseAllowList reads --allow-cluster values: NAME (trust domain NAME.meshfed.local) or
// NAME=TRUSTDOMAIN.
func ParseAllowList(specs []string) (AllowList, error) {
	a := AllowList{}
	for _, spec := range specs {
		name, td, ok := strings.Cut(spec, "=")
		if !ok {
			td = trust.DefaultTrustDomain(name)
		}
		if err := trust.ValidateClusterName(name); err != nil {
			return nil, fmt.Errorf("allowed cluster %q: %w", spec, err)
		}
		if err := trust.ValidateTrustDomain(td); err != nil {
			return nil, fmt.Errorf("allowed cluster %q: %w", spec, err)
		}
		if other, dup := a[td]; dup && other != name {
			return nil, fmt.Errorf("allowed cluster %q: trust domain %s is already cluster %q's", spec, td, other)
		}
		a[td] = name
	}
	return a, nil
}

// Allowed refuses a caller whose trust domain is not on the list, saying which are.
func (a AllowList) Allowed(id trust.ID) error {
	if _, ok := a[id.TrustDomain]; ok {
		return nil
	}
	if len(a) == 0 {
		return fmt.Errorf("trust domain %s is not allowed: the gateway allows no remote cluster", id.TrustDomain)
	}
	return fmt.Errorf("trust domain %s is not allowed: the gateway allows %s", id.TrustDomain, strings.Join(slices.Sorted(maps.Keys(a)), ", "))
}

// ClusterOf names the caller's cluster: the list's name for its trust domain, else what
// DefaultClusterOf makes of it.
func (a AllowList) ClusterOf(id trust.ID) string {
	if name, ok := a[id.TrustDomain]; ok {
		return name
	}
	return DefaultClusterOf(id)
}

// DefaultClusterOf is a caller's cluster by the naming convention: west for
// west.meshfed.local, the trust domain itself otherwise.
func DefaultClusterOf(id trust.ID) string {
	if name, ok := strings.CutSuffix(id.TrustDomain, ".meshfed.local"); ok && name != "" {
		return name
	}
	return id.TrustDomain
}
