package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// A ClusterSetIP comes from a range of its own, allocated in this cluster (KEP-1645): the
// ServiceCIDRs labelled mcv1alpha1.LabelClusterSetIPRange (`mesh multicluster install`
// makes one, meshfed-clusterset). The controller picks the lowest free address of them and
// asks for it as the derived Service's spec.clusterIP; the apiserver (Kubernetes 1.33+,
// MultiCIDRServiceAllocator) accepts an address of any ServiceCIDR and refuses one already
// taken, its IPAddress objects making every allocation unique in the cluster. So the
// apiserver stays the allocator and kube-proxy routes the address as any cluster IP; the
// controller only chooses where.
//
// The range is read from the ServiceCIDR objects, not from a flag of the link controller:
// the apiserver accepts a cluster IP only inside a ServiceCIDR, so that object must exist
// anyway, and a flag would be a second copy of it that could disagree (every Service refused)
// with nothing to say which is right. The free addresses are read from the IPAddress objects,
// not from the Services: they are what the apiserver checks, and they hold addresses no
// Service of ours can see (another allocator's, one being released).
//
// The range is not exclusive. The apiserver gives a Service that asks for no address one
// from any ready ServiceCIDR, in no set order (pkg/registry/core/service/ipallocator's
// MetaAllocator ranges over a map), so some ordinary Services get addresses of this range
// too. Two things keep that harmless: within a range the apiserver takes dynamic addresses
// from the upper part first and the lower part (1/16 of the range, 16 to 256 addresses,
// KEP-3070) only when the upper is full, and the lowest free address is in the lower part;
// an address taken all the same is refused by the apiserver and the next one tried.
//
// A derived Service keeps the cluster IP it has, inside a range or not (one made before the
// range existed): a cluster IP cannot change, so a new one means deleting the Service, which
// breaks the connections of every client that resolved the old one. The ServiceImport's
// Ready condition says so, and how to move it. Where the ServiceCIDR API is not served
// (Kubernetes before 1.33), the apiserver allocates from the cluster's service range as it
// always did, and Ready says that too: there is no range of its own to take from there. Where
// it is served and no labelled ServiceCIDR has a free address, there is no fallback to the
// service range: an address from there would be indistinguishable from a correct one and stay
// for the Service's life; the import waits, Ready=False saying what to do.

// maxAllocationAttempts bounds the addresses tried for one Service: each refusal is one the
// cache had not yet seen taken (another worker's, or another allocator's, moments ago).
const maxAllocationAttempts = 16

// Ready condition reasons of a ServiceImport, besides mcsv1alpha1's Ready.
const (
	reasonRangeMissing  = "ClusterSetIPRangeMissing"
	reasonRangeFull     = "ClusterSetIPRangeFull"
	reasonOutsideRange  = "ClusterSetIPOutsideRange"
	reasonServiceRange  = "ClusterServiceRange"
	reasonRangeNotReady = "ClusterSetIPRangeNotReady"
)

// noClusterSetIP says why a derived Service could not be given a ClusterSetIP: a problem of
// the cluster's configuration that waiting alone does not fix, shown in Ready.
type noClusterSetIP struct {
	Reason, Message string
}

func (e *noClusterSetIP) Error() string { return e.Reason + ": " + e.Message }

// ipRange is one labelled ServiceCIDR's CIDR.
type ipRange struct {
	Name   string
	Prefix netip.Prefix
}

// first and last are the addresses the apiserver allocates in r: not the network's address,
// nor an IPv4 broadcast address.
func (r ipRange) first() netip.Addr { return r.Prefix.Masked().Addr().Next() }

func (r ipRange) last() netip.Addr {
	a := r.Prefix.Masked().Addr()
	b := a.AsSlice()
	host := a.BitLen() - r.Prefix.Bits()
	for i := len(b) - 1; host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	last, _ := netip.AddrFromSlice(b)
	if last.Is4() {
		last = last.Prev()
	}
	return last
}

func (r ipRange) String() string { return fmt.Sprintf("ServiceCIDR %s (%s)", r.Name, r.Prefix) }

// rangeSelector selects the ServiceCIDRs of ClusterSetIPs.
var rangeSelector = client.MatchingLabels{mcv1alpha1.LabelClusterSetIPRange: "true"}

// readRanges returns the CIDRs of the labelled ServiceCIDRs that the apiserver allocates from,
// by the ServiceCIDRs' names; none is a noClusterSetIP saying which fix applies.
func (r *clustersetReconciler) readRanges(ctx context.Context) ([]ipRange, error) {
	var list networkingv1.ServiceCIDRList
	if err := r.client.List(ctx, &list, rangeSelector); err != nil {
		return nil, fmt.Errorf("listing the ServiceCIDRs labelled %s=true: %w", mcv1alpha1.LabelClusterSetIPRange, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	var out []ipRange
	var notReady []string
	for _, sc := range list.Items {
		// The apiserver allocates from a ServiceCIDR only while it is ready and not going.
		if c := meta.FindStatusCondition(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady); !sc.DeletionTimestamp.IsZero() || (c != nil && c.Status != "True") {
			notReady = append(notReady, sc.Name)
			continue
		}
		for _, c := range sc.Spec.CIDRs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				continue // the apiserver validated it: not reached
			}
			out = append(out, ipRange{Name: sc.Name, Prefix: p.Masked()})
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case len(notReady) > 0:
		return nil, &noClusterSetIP{reasonRangeNotReady, fmt.Sprintf("the ServiceCIDR(s) %s labelled %s=true are being deleted or not Ready, and the apiserver allocates from none of them: see their status, or label another ServiceCIDR",
			strings.Join(notReady, ", "), mcv1alpha1.LabelClusterSetIPRange)}
	}
	return nil, &noClusterSetIP{reasonRangeMissing, fmt.Sprintf("no ServiceCIDR is labelled %s=true, so there is no range to take a ClusterSetIP from: apply `mesh multicluster install` (it makes the ServiceCIDR %s from --clusterset-ip-range), or label a ServiceCIDR of your own",
		mcv1alpha1.LabelClusterSetIPRange, mcv1alpha1.ClusterSetIPRangeName)}
}

// takenAddresses are the addresses allocated in this cluster, by the IPAddress objects.
func (r *clustersetReconciler) takenAddresses(ctx context.Context) (map[netip.Addr]bool, error) {
	var list networkingv1.IPAddressList
	// Read only: one copy of every IPAddress per allocation would be most of the
	// controller's work in a burst of imports.
	if err := r.client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing IPAddresses: %w", err)
	}
	taken := make(map[netip.Addr]bool, len(list.Items))
	for _, ip := range list.Items {
		// An IPAddress is named by its address, canonical.
		if a, err := netip.ParseAddr(ip.Name); err == nil {
			taken[a] = true
		}
	}
	return taken, nil
}

// lowestFree returns the lowest address of ranges, in their order, not in taken.
func lowestFree(ranges []ipRange, taken map[netip.Addr]bool) (netip.Addr, bool) {
	for _, r := range ranges {
		last := r.last()
		// At most len(taken)+1 steps: every step but the last passes a taken address.
		for a := r.first(); a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
			if !taken[a] {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// inRanges returns the range holding ip, if any.
func inRanges(ranges []ipRange, ip string) (ipRange, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ipRange{}, false
	}
	for _, r := range ranges {
		if r.Prefix.Contains(a) {
			return r, true
		}
	}
	return ipRange{}, false
}

// reservationTTL is how long an address asked for stays reserved: far longer than its
// IPAddress takes to reach the cache, which then says it is taken.
const reservationTTL = time.Minute

// reservedIPs are the addresses this controller has lately asked the apiserver for. The cache
// shows an address taken only when the IPAddress the apiserver made for it comes back on the
// watch; until then every worker, and this one's next reconcile, would pick that same lowest
// free address and be refused: in a burst of imports, a refused write for each one before.
// The zero value is ready to use; a nil one reserves nothing.
type reservedIPs struct {
	mu sync.Mutex
	at map[netip.Addr]time.Time
}

// pick reserves and returns the lowest address of ranges that is neither in taken nor
// reserved; taken gets the reserved addresses.
func (r *reservedIPs) pick(ranges []ipRange, taken map[netip.Addr]bool) (netip.Addr, bool) {
	if r == nil {
		return lowestFree(ranges, taken)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for a, at := range r.at {
		if now.Sub(at) > reservationTTL {
			delete(r.at, a)
			continue
		}
		taken[a] = true
	}
	ip, ok := lowestFree(ranges, taken)
	if ok {
		if r.at == nil {
			r.at = map[netip.Addr]time.Time{}
		}
		r.at[ip] = now
	}
	return ip, ok
}

// release gives back an address picked but not allocated.
func (r *reservedIPs) release(ip netip.Addr) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.at, ip)
}

// createWithClusterSetIP creates want with the lowest free address of ranges as its cluster
// IP, trying the next on the apiserver's "already allocated", and returns the Service made.
// taken is updated with what the apiserver refused and what reserved holds; the address
// allocated stays reserved until the cache has had time to see it taken.
func createWithClusterSetIP(ctx context.Context, c client.Client, want *corev1.Service, ranges []ipRange, taken map[netip.Addr]bool, reserved *reservedIPs) (*corev1.Service, error) {
	for range maxAllocationAttempts {
		ip, ok := reserved.pick(ranges, taken)
		if !ok {
			names := make([]string, 0, len(ranges))
			for _, r := range ranges {
				names = append(names, r.String())
			}
			return nil, &noClusterSetIP{reasonRangeFull, fmt.Sprintf("every address of %s is taken: label another ServiceCIDR %s=true (a ServiceCIDR's CIDRs cannot change), or delete the ServiceImports no one uses",
				strings.Join(names, ", "), mcv1alpha1.LabelClusterSetIPRange)}
		}
		svc := want.DeepCopy()
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip.String(), []string{ip.String()}
		err := c.Create(ctx, svc)
		switch {
		case err == nil:
			return svc, nil
		case alreadyAllocated(err):
			taken[ip] = true
			continue
		}
		reserved.release(ip)
		return nil, fmt.Errorf("creating Service %s/%s with the ClusterSetIP %s: %w", want.Namespace, want.Name, ip, err)
	}
	return nil, fmt.Errorf("creating Service %s/%s: %d addresses in a row were already allocated though the cache saw them free: retrying when it has caught up", want.Namespace, want.Name, maxAllocationAttempts)
}

// alreadyAllocated says whether err is the apiserver refusing a cluster IP that is taken
// (ipallocator.ErrAllocated, as a field error on spec.clusterIPs): only the message tells it
// from the other refusals of that field.
func alreadyAllocated(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if strings.HasPrefix(c.Field, "spec.clusterIP") && strings.Contains(c.Message, "already allocated") {
			return true
		}
	}
	return false
}
