package origdst

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNotRedirected is in the chain of the error OriginalDestination returns for a connection
// that no iptables rule redirected: the caller may then treat it as made to the proxy itself.
var ErrNotRedirected = errors.New("the connection was not redirected by iptables")

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST from linux/netfilter_ipv6/ip6_tables.h, which
// x/sys does not name; it has the same value as SO_ORIGINAL_DST, at level SOL_IPV6.
const ip6tSOOriginalDst = 80

// OriginalDestination returns the address conn was made to before a REDIRECT (or DNAT) rule
// sent it to this listener. conn must be a connection this process accepted: on the dialling
// side the kernel would answer with the peer's address.
//
// A connection made straight to the listener has no original destination: the error then
// wraps ErrNotRedirected, whether the kernel keeps no NAT record for it or keeps one that
// changed nothing.
func OriginalDestination(conn *net.TCPConn) (netip.AddrPort, error) {
	local, remote := addrPort(conn.LocalAddr()), addrPort(conn.RemoteAddr())
	wrap := func(err error) error {
		return fmt.Errorf("original destination of the connection from %s to %s: %w", remote, local, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, wrap(err)
	}
	var orig netip.AddrPort
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		// An IPv4 connection accepted on a dual-stack (AF_INET6) listener still has only an
		// IPv4 NAT record, and SOL_IP options reach it through the IPv6 socket.
		if local.Addr().Is4() {
			orig, sockErr = original4(fd)
		} else {
			orig, sockErr = original6(fd)
		}
	})
	if err == nil {
		err = sockErr
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		return netip.AddrPort{}, wrap(fmt.Errorf("%w: the kernel keeps no NAT record for it; it was made to the proxy's port directly, or the pod's iptables rules (proxy init) are missing", ErrNotRedirected))
	case err != nil:
		return netip.AddrPort{}, wrap(err)
	case orig == local:
		// Connection tracking follows every connection once the namespace has NAT rules, so
		// one that no rule changed still has a record, naming the listener itself.
		return netip.AddrPort{}, wrap(fmt.Errorf("%w: it was made to the proxy's port directly", ErrNotRedirected))
	}
	return orig, nil
}

// addrPort is a's address with IPv4-mapped IPv6 unmapped, as the NAT record has it.
func addrPort(a net.Addr) netip.AddrPort {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := tcp.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func original4(fd uintptr) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet4
	if err := getsockopt(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST, unsafe.Pointer(&sa), unsafe.Sizeof(sa)); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), networkOrder(&sa.Port)), nil
}

func original6(fd uintptr) (netip.AddrPort, error) {
	var sa unix.RawSockaddrInet6
	if err := getsockopt(fd, unix.SOL_IPV6, ip6tSOOriginalDst, unsafe.Pointer(&sa), unsafe.Sizeof(sa)); err != nil {
		return netip.AddrPort{}, err
	}
	addr := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		addr = addr.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
	}
	return netip.AddrPortFrom(addr, networkOrder(&sa.Port)), nil
}

// getsockopt is the raw call: x/sys has no getter for a sockaddr, and borrowing one sized for
// another struct would hand the kernel a length it may refuse.
func getsockopt(fd uintptr, level, opt int, p unsafe.Pointer, size uintptr) error {
	n := uint32(size)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// networkOrder reads a sockaddr's port, which the kernel stores big-endian whatever the host.
func networkOrder(port *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(port))
	return uint16(b[0])<<8 | uint16(b[1])
}
