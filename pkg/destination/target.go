package destination

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// maxAuthorityBytes bounds an authority before it is parsed: a DNS name and a port.
const maxAuthorityBytes = 253 + 1 + 5

// target is what a Get asks about, once parsed: exactly one of service, addr or neither
// (a well-formed name the mesh does not serve).
type target struct {
	// service and port: an authority naming a Service port.
	service types.NamespacedName
	port    int32
	// addr: a socket address (or an authority that is one), resolved to a Service port or a
	// pod, again whenever Services or pods at that IP change.
	addr netip.AddrPort
}

func (t target) isService() bool { return t.service.Name != "" }
func (t target) isAddr() bool    { return t.addr.IsValid() }

func (t target) String() string {
	switch {
	case t.isService():
		return fmt.Sprintf("%s/%s:%d", t.service.Namespace, t.service.Name, t.port)
	case t.isAddr():
		return t.addr.String()
	}
	return "(not in the mesh)"
}

// parseTarget checks a request and returns its target; the error is an InvalidArgument
// status naming the field and what is wrong with it.
func parseTarget(req *destinationv1.GetDestination, clusterDomain string) (target, error) {
	switch t := req.GetTarget().(type) {
	case *destinationv1.GetDestination_Authority:
		tg, err := parseAuthority(t.Authority, clusterDomain)
		if err != nil {
			return target{}, status.Errorf(codes.InvalidArgument, "authority %q: %v", truncate(t.Authority, 300), err)
		}
		return tg, nil
	case *destinationv1.GetDestination_Address:
		ap, err := parseSocketAddress(t.Address)
		if err != nil {
			return target{}, status.Errorf(codes.InvalidArgument, "address: %v", err)
		}
		return target{addr: ap}, nil
	}
	return target{}, status.Error(codes.InvalidArgument, "target is empty: set authority (host:port) or address (ip and port)")
}

func parseSocketAddress(a *destinationv1.SocketAddress) (netip.AddrPort, error) {
	ip, ok := netip.AddrFromSlice(a.GetIp())
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("ip is %d bytes: send 4 (IPv4) or 16 (IPv6)", len(a.GetIp()))
	}
	if a.GetPort() == 0 || a.GetPort() > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d is out of range: send 1 to 65535", a.GetPort())
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.GetPort())), nil
}

// parseAuthority reads host:port. An IP host is an address target; a host naming a Service
// in one of the forms cluster DNS answers (<svc>.<ns>, <svc>.<ns>.svc,
// <svc>.<ns>.svc.<clusterDomain>, with or without a final dot, in any case) is a service
// target; so is a clusterset service's name (<svc>.<ns>.svc.clusterset.local, KEP-1645),
// whose target is the Service derived from its ServiceImport, <svc>-clusterset; any other
// DNS name is not in the mesh.
func parseAuthority(authority, clusterDomain string) (target, error) {
	if len(authority) > maxAuthorityBytes {
		return target{}, fmt.Errorf("is %d bytes; a DNS name and a port are at most %d", len(authority), maxAuthorityBytes)
	}
	host, portStr, err := net.SplitHostPort(authority)
	if err != nil {
		return target{}, fmt.Errorf("not host:port (%v): send the port too, such as web.shop.svc.%s:80", err, clusterDomain)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return target{}, fmt.Errorf("port %q is not a number from 1 to 65535", portStr)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		return target{addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return target{}, fmt.Errorf("host %q is not a DNS name: %s", host, strings.Join(errs, "; "))
	}
	rest, suffix := host, ""
	if r, ok := strings.CutSuffix(rest, ".svc."+ClusterSetDomain); ok && clusterDomain != ClusterSetDomain {
		rest, suffix = r, mcv1alpha1.ClusterSetSuffix
	} else if r, ok := strings.CutSuffix(rest, ".svc."+clusterDomain); ok {
		rest = r
	} else if r, ok := strings.CutSuffix(rest, ".svc"); ok {
		rest = r
	}
	name, ns, ok := strings.Cut(rest, ".")
	name += suffix
	if !ok || strings.Contains(ns, ".") || len(validation.IsDNS1035Label(name)) > 0 || len(validation.IsDNS1123Label(ns)) > 0 {
		return target{}, nil // a name, but not one of a Service here: not in the mesh
	}
	return target{service: types.NamespacedName{Namespace: ns, Name: name}, port: int32(port)}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
