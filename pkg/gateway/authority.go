package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultClusterDomain is the DNS domain of a cluster's services unless configured otherwise.
const DefaultClusterDomain = "cluster.local"

// Authority is what a CONNECT asks for: a Service of the gateway's cluster and a port of it,
// as the cluster names it, <service>.<namespace>.svc.<cluster-domain>:<port>.
type Authority struct {
	Service, Namespace, ClusterDomain string
	Port                              uint16
}

// String is the authority as it travels: host:port.
func (a Authority) String() string {
	return a.Service + "." + a.Namespace + ".svc." + a.ClusterDomain + ":" + strconv.Itoa(int(a.Port))
}

// ParseAuthority reads a CONNECT's authority strictly: the Service name a DNS-1035 label, the
// namespace a DNS-1123 label, then "svc", the cluster domain exactly as given, and a port from
// 1 to 65535 in plain decimal. Anything else (an IP address, another domain, a pod's or a
// headless Service's host name, upper case, a trailing dot, user info) is refused: the gateway
// forwards to the cluster's Services, nothing else.
func ParseAuthority(s, clusterDomain string) (Authority, error) {
	if clusterDomain == "" {
		clusterDomain = DefaultClusterDomain
	}
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return Authority{}, fmt.Errorf("authority %q has no port: want <service>.<namespace>.svc.%s:<port>", s, clusterDomain)
	}
	p, err := parsePort(port)
	if err != nil {
		return Authority{}, fmt.Errorf("authority %q: %w", s, err)
	}
	suffix := ".svc." + clusterDomain
	rest, ok := strings.CutSuffix(host, suffix)
	if !ok {
		return Authority{}, fmt.Errorf("authority %q is not a Service of this cluster: want <service>.<namespace>%s:<port>", s, suffix)
	}
	svc, ns, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ns, ".") {
		return Authority{}, fmt.Errorf("authority %q: want exactly <service>.<namespace> before %s", s, suffix)
	}
	if !isDNS1035Label(svc) {
		return Authority{}, fmt.Errorf("authority %q: %q is not a Service name (a DNS-1035 label: lower case letters, digits and '-', starting with a letter, at most 63)", s, svc)
	}
	if !isDNS1123Label(ns) {
		return Authority{}, fmt.Errorf("authority %q: %q is not a namespace (a DNS-1123 label: lower case letters, digits and '-', at most 63)", s, ns)
	}
	return Authority{Service: svc, Namespace: ns, ClusterDomain: clusterDomain, Port: p}, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, fmt.Errorf("port %q: want 1 to 65535, plain decimal", s)
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q: want 1 to 65535, plain decimal", s)
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, fmt.Errorf("port %q: want 1 to 65535, plain decimal", s)
	}
	return uint16(n), nil
}

func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isDNS1035Label(s string) bool {
	return isDNS1123Label(s) && s[0] >= 'a' && s[0] <= 'z'
}

// validateClusterDomain checks a configured cluster domain: DNS labels joined by dots.
func validateClusterDomain(d string) error {
	if d == "" || len(d) > 253 {
		return errors.New("want a DNS domain such as cluster.local")
	}
	for l := range strings.SplitSeq(d, ".") {
		if !isDNS1123Label(l) {
			return fmt.Errorf("%q: label %q is not a DNS-1123 label", d, l)
		}
	}
	return nil
}
