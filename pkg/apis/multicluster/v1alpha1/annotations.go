package v1alpha1

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

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
