package v1alpha1

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// FormatRemotePorts writes ports as AnnotationRemotePorts holds them: "name=port/protocol,...".
func FormatRemotePorts(ports []corev1.ServicePort) string {
	var b strings.Builder
	for i, p := range ports {
		if i > 0 {
			b.WriteByte(',')
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		fmt.Fprintf(&b, "%s=%d/%s", p.Name, p.Port, proto)
	}
	return b.String()
}

// ParseRemotePorts reads AnnotationRemotePorts, skipping what is not a port: the annotation
// is on an object anyone with write access may have changed.
func ParseRemotePorts(s string) []corev1.ServicePort {
	var out []corev1.ServicePort
	for _, f := range strings.Split(s, ",") {
		name, rest, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		num, proto, _ := strings.Cut(rest, "/")
		port, err := strconv.ParseInt(num, 10, 32)
		if err != nil || port < 1 || port > 65535 {
			continue
		}
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		out = append(out, corev1.ServicePort{Name: name, Port: int32(port), Protocol: corev1.Protocol(proto)})
	}
	return out
}

// gatewayPortPrefix starts the port names of a member's slice at its cluster's gateway.
const gatewayPortPrefix = "mgw-"

// GatewayPortName is the name a member's EndpointSlice at its cluster's gateway gives the port
// the member's Service names name. kube-proxy matches a slice's ports to its Service's by
// name, and would otherwise send plain connections of unmeshed clients to the gateway, which
// takes only mTLS from proxies of the federation and so refuses them; under this name, which
// the united Service's ports do not have, it leaves the gateway out, and the destination
// service, which asks for it, finds it. A DNS label, as a port name must be.
func GatewayPortName(name string) string {
	if name == "" {
		return strings.TrimSuffix(gatewayPortPrefix, "-")
	}
	n := gatewayPortPrefix + name
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

// FormatEndpointIdentities writes identities (by address) as AnnotationEndpointIdentities
// holds them, in address order.
func FormatEndpointIdentities(identities map[string]string) string {
	addrs := make([]string, 0, len(identities))
	for a := range identities {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a + "=" + identities[a])
	}
	return b.String()
}

// ParseEndpointIdentities reads AnnotationEndpointIdentities. It keeps only entries whose
// address parses and whose identity is a SPIFFE URI: what it returns is demanded of peers,
// and the annotation is on an object others may write.
func ParseEndpointIdentities(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Split(s, ",") {
		addr, id, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(id, "spiffe://") {
			continue
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			continue
		}
		out[ip.String()] = id
	}
	return out
}

// Export is what one cluster's export of a clusterset service says that the clusterset's
// members may disagree on, besides the ports (AnnotationRemotePorts): when it was exported,
// whether it is headless, and its session affinity. The oldest export wins (KEP-1645).
//
// It is an annotation's value, not an API object: no deepcopy.
// +kubebuilder:object:generate=false
type Export struct {
	// Created is the ServiceExport's creation time, to the second as the API keeps it.
	Created time.Time
	// Headless: the exported Service has no cluster IP.
	Headless bool
	// SessionAffinity is the Service's: None or ClientIP.
	SessionAffinity corev1.ServiceAffinity
	// AffinityTimeout is the Service's ClientIP timeout in seconds; 0 when not set.
	AffinityTimeout int32
}

// FormatExport writes e as AnnotationExport holds it:
// "created=<RFC 3339>;type=ClusterSetIP|Headless;affinity=None|ClientIP[/<seconds>]".
func FormatExport(e Export) string {
	typ := "ClusterSetIP"
	if e.Headless {
		typ = "Headless"
	}
	aff := string(e.SessionAffinity)
	if aff == "" {
		aff = string(corev1.ServiceAffinityNone)
	}
	if e.AffinityTimeout > 0 {
		aff += "/" + strconv.Itoa(int(e.AffinityTimeout))
	}
	return "created=" + e.Created.UTC().Format(time.RFC3339) + ";type=" + typ + ";affinity=" + aff
}

// ParseExport reads AnnotationExport. It refuses what it cannot read whole (the annotation
// is on an object others may write, and a half-read export would lose conflicts it should
// win): the caller then leaves that member out.
func ParseExport(s string) (Export, error) {
	var e Export
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(f, "=")
		if !ok || seen[k] {
			return Export{}, fmt.Errorf("export %q: field %q is not key=value once", s, f)
		}
		seen[k] = true
		switch k {
		case "created":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Export{}, fmt.Errorf("export %q: created: %w", s, err)
			}
			e.Created = t.UTC().Truncate(time.Second)
		case "type":
			switch v {
			case "ClusterSetIP":
			case "Headless":
				e.Headless = true
			default:
				return Export{}, fmt.Errorf("export %q: type %q is neither ClusterSetIP nor Headless", s, v)
			}
		case "affinity":
			aff, timeout, hasTimeout := strings.Cut(v, "/")
			switch corev1.ServiceAffinity(aff) {
			case corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP:
				e.SessionAffinity = corev1.ServiceAffinity(aff)
			default:
				return Export{}, fmt.Errorf("export %q: affinity %q is neither None nor ClientIP", s, aff)
			}
			if hasTimeout {
				n, err := strconv.ParseInt(timeout, 10, 32)
				// The API's bounds for sessionAffinityConfig.clientIP.timeoutSeconds.
				if err != nil || n < 1 || n > 86400 || e.SessionAffinity != corev1.ServiceAffinityClientIP {
					return Export{}, fmt.Errorf("export %q: affinity timeout %q is not 1 to 86400 seconds of ClientIP", s, timeout)
				}
				e.AffinityTimeout = int32(n)
			}
		default:
			return Export{}, fmt.Errorf("export %q: unknown field %q", s, k)
		}
	}
	if !seen["created"] || !seen["type"] || !seen["affinity"] {
		return Export{}, fmt.Errorf("export %q: want created, type and affinity", s)
	}
	return e, nil
}
