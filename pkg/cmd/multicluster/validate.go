package multicluster

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

var clusterNameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// validateClusterName checks --cluster-name as the Link's schema does.
func validateClusterName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("--cluster-name is required: the name the other clusters know this one by, such as --cluster-name east")
	case len(name) > maxClusterNameLength:
		return fmt.Errorf("--cluster-name %q is %d characters long: at most %d fit, as mirrors are named <service>-<cluster> in 63", name, len(name), maxClusterNameLength)
	case !clusterNameRE.MatchString(name):
		return fmt.Errorf("--cluster-name %q is not a DNS label: use lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, such as east or eu-west-1", name)
	}
	return nil
}

// validateClusterDomain checks --cluster-domain.
func validateClusterDomain(domain string) error {
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return fmt.Errorf("--cluster-domain %q is not a DNS domain (%s): give the remote cluster's DNS domain, such as cluster.local", domain, errs[0])
	}
	return nil
}

// validateAPIServerAddress checks an API server's URL, named by what as the user gave it.
func validateAPIServerAddress(what, address string) error {
	u, err := url.Parse(address)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%s %q is not an https URL: give the address the other clusters reach this API server at, such as https://198.18.0.2:6443", what, address)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q holds user, query or fragment: give only https://host:port", what, address)
	}
	return nil
}

// isLoopback says whether an API server URL names this machine only.
func isLoopback(address string) bool {
	u, err := url.Parse(address)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// maxGatewayAddresses is the Link schema's bound.
const maxGatewayAddresses = 16

// validateGatewayAddresses checks gateway addresses: IPs or DNS names, each once.
func validateGatewayAddresses(addrs []string) error {
	if len(addrs) > maxGatewayAddresses {
		return fmt.Errorf("--gateway-addresses names %d addresses: at most %d", len(addrs), maxGatewayAddresses)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if a == "" {
			return fmt.Errorf("--gateway-addresses holds an empty address: give a comma-separated list such as 198.18.0.100,gw.east.example.com")
		}
		if _, err := netip.ParseAddr(a); err != nil {
			if errs := validation.IsDNS1123Subdomain(a); len(errs) > 0 {
				return fmt.Errorf("--gateway-addresses: %q is neither an IP address nor a DNS name (%s); give addresses only, no port (that is --gateway-port)", a, errs[0])
			}
		}
		if seen[a] {
			return fmt.Errorf("--gateway-addresses names %q twice: name each address once", a)
		}
		seen[a] = true
	}
	return nil
}

// validatePort checks a port flag.
func validatePort(flag string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s %d is not a port: give 1 to 65535", flag, port)
	}
	return nil
}

var spiffePathRE = regexp.MustCompile(`^/ns/[^/]+/sa/[^/]+$`)

// validateIdentity checks --gateway-identity.
func validateIdentity(id string) error {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "spiffe" || u.Host == "" || !spiffePathRE.MatchString(u.Path) || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--gateway-identity %q is not a workload identity: give spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>, such as spiffe://meshfed.local/ns/mesh-multicluster/sa/mesh-gateway", id)
	}
	return nil
}

// parseSelector parses --selector into the Link's selector; empty selects everything.
func parseSelector(s string) (*metav1.LabelSelector, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	sel, err := metav1.ParseToLabelSelector(s)
	if err != nil {
		return nil, fmt.Errorf("--selector %q: %v; write it as kubectl -l does, such as app=web,tier in (front,back)", s, err)
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return nil, fmt.Errorf("--selector %q: %v", s, err)
	}
	return sel, nil
}

// ValidateClusterName checks a --cluster-name as the multicluster commands do, for other
// commands that take one (mesh viz install).
func ValidateClusterName(name string) error { return validateClusterName(name) }

// ValidateClusterDomain checks a --cluster-domain as the multicluster commands do.
func ValidateClusterDomain(domain string) error { return validateClusterDomain(domain) }
