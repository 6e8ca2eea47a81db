package mirror

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/meshfed/meshfed/deploy"
	"github.com/meshfed/meshfed/internal/testenv"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

var suiteRange = netip.MustParsePrefix(deploy.DefaultClusterSetIPRange)

func TestIPRangeBounds(t *testing.T) {
	tests := []struct{ prefix, first, last string }{
		{"198.19.128.0/20", "198.19.128.1", "198.19.143.254"},
		{"198.19.127.252/30", "198.19.127.253", "198.19.127.254"},
		{"198.19.128.7/24", "198.19.128.1", "198.19.128.254"}, // masked
		{"fd00:10::/120", "fd00:10::1", "fd00:10::ff"},        // IPv6 has no broadcast address
	}
	for _, tt := range tests {
		r := ipRange{Prefix: netip.MustParsePrefix(tt.prefix).Masked()}
		if r.first().String() != tt.first || r.last().String() != tt.last {
			t.Errorf("%s: first %s last %s, want %s %s", tt.prefix, r.first(), r.last(), tt.first, tt.last)
		}
	}
}

func TestLowestFree(t *testing.T) {
	a := ipRange{Name: "a", Prefix: netip.MustParsePrefix("198.19.127.252/30")}
	b := ipRange{Name: "b", Prefix: netip.MustParsePrefix("198.19.128.0/24")}
	taken := func(ips ...string) map[netip.Addr]bool {
		m := map[netip.Addr]bool{}
		for _, ip := range ips {
			m[netip.MustParseAddr(ip)] = true
		}
		return m
	}
	tests := []struct {
		name   string
		ranges []ipRange
		taken  map[netip.Addr]bool
		want   string // "" for none
	}{
		{"empty range: its first address", []ipRange{b}, nil, "198.19.128.1"},
		{"taken ones skipped", []ipRange{b}, taken("198.19.128.1", "198.19.128.2", "198.19.128.4"), "198.19.128.3"},
		{"a full range: the next range's", []ipRange{a, b}, taken("198.19.127.253", "198.19.127.254"), "198.19.128.1"},
		{"every range full", []ipRange{a}, taken("198.19.127.253", "198.19.127.254"), ""},
		{"no range", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lowestFree(tt.ranges, tt.taken)
			if (tt.want == "") == ok || (ok && got.String() != tt.want) {
				t.Errorf("got %s %v, want %q", got, ok, tt.want)
			}
		})
	}
}

// TestReservedIPs: workers picking at once, before the cache shows any of their addresses
// taken, get one address each; one given back is picked again.
func TestReservedIPs(t *testing.T) {
	ranges := []ipRange{{Name: "r", Prefix: netip.MustParsePrefix("198.19.128.0/24")}}
	var r reservedIPs
	got := make(chan netip.Addr, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip, ok := r.pick(ranges, map[netip.Addr]bool{netip.MustParseAddr("198.19.128.1"): true})
			if !ok {
				t.Error("no address picked")
			}
			got <- ip
		}()
	}
	wg.Wait()
	close(got)
	seen := map[netip.Addr]bool{}
	for ip := range got {
		if seen[ip] || ip == netip.MustParseAddr("198.19.128.1") {
			t.Errorf("%s picked twice, or though taken", ip)
		}
		seen[ip] = true
	}
	r.release(netip.MustParseAddr("198.19.128.7"))
	if ip, _ := r.pick(ranges, map[netip.Addr]bool{}); ip != netip.MustParseAddr("198.19.128.1") {
		t.Errorf("picked %s, want 198.19.128.1, which was only taken in the cache's view", ip)
	}
	if ip, _ := r.pick(ranges, map[netip.Addr]bool{netip.MustParseAddr("198.19.128.1"): true}); ip != netip.MustParseAddr("198.19.128.7") {
		t.Errorf("picked %s, want the released 198.19.128.7", ip)
	}
}

func TestReadyCondition(t *testing.T) {
	ranges := []ipRange{{Name: "meshfed-clusterset", Prefix: suiteRange}}
	svc := func(ip string) *corev1.Service { return &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: ip}} }
	tests := []struct {
		name   string
		scope  clustersetScope
		svc    *corev1.Service
		status metav1.ConditionStatus
		reason string
		says   string
	}{
		{"in the range", clustersetScope{rangesServed: true, ranges: ranges}, svc("198.19.128.1"), metav1.ConditionTrue, "Ready", "from ServiceCIDR meshfed-clusterset (198.19.128.0/20)"},
		{"headless", clustersetScope{rangesServed: true, res: resolution{Headless: true}}, svc("None"), metav1.ConditionTrue, "Ready", "headless"},
		{"no range", clustersetScope{rangesServed: true, ipErr: &noClusterSetIP{reasonRangeMissing, "apply it"}}, svc(""), metav1.ConditionFalse, reasonRangeMissing, "apply it"},
		{"range full", clustersetScope{rangesServed: true, ranges: ranges, ipErr: &noClusterSetIP{reasonRangeFull, "label another"}}, svc(""), metav1.ConditionFalse, reasonRangeFull, "label another"},
		{"older than the range", clustersetScope{rangesServed: true, ranges: ranges, derived: "web-clusterset"}, svc("198.19.240.7"), metav1.ConditionTrue, reasonOutsideRange, "delete that Service"},
		{"kept when the range went", clustersetScope{rangesServed: true, ipErr: &noClusterSetIP{reasonRangeMissing, "apply it"}}, svc("198.19.128.1"), metav1.ConditionTrue, reasonOutsideRange, "is kept"},
		{"no ServiceCIDR API", clustersetScope{}, svc("198.19.240.7"), metav1.ConditionTrue, reasonServiceRange, "Kubernetes before 1.33"},
		{"not allocated yet", clustersetScope{rangesServed: true, ranges: ranges}, svc(""), metav1.ConditionUnknown, "Pending", "no cluster IP yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := readyCondition(&tt.scope, tt.svc)
			if c.Type != "Ready" || c.Status != tt.status || c.Reason != tt.reason || !strings.Contains(c.Message, tt.says) {
				t.Errorf("got %s=%s (%s: %s), want %s (%s) saying %q", c.Type, c.Status, c.Reason, c.Message, tt.status, tt.reason, tt.says)
			}
		})
	}
}

// TestServiceCIDRAllocation pins what the ClusterSetIP range relies on in the apiserver
// (Kubernetes 1.33+): a Service may ask for a cluster IP of a second ServiceCIDR, and an
// address already taken is refused, in words alreadyAllocated recognises.
func TestServiceCIDRAllocation(t *testing.T) {
	f := newFixture(t, nil)
	create := func(name, ip string) error {
		return localSide.client.Create(f.ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
			Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80}}},
		})
	}
	// The top of the suite's range, where the controller's lowest-first picks never reach.
	ip := ipRange{Prefix: suiteRange}.last().String()
	if err := create("first", ip); err != nil {
		t.Fatalf("a cluster IP in the ServiceCIDR %s refused: %v", mcv1alpha1.ClusterSetIPRangeName, err)
	}
	t.Cleanup(func() {
		localSide.client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "first", Namespace: f.namespace}})
	})
	err := create("second", ip)
	if !alreadyAllocated(err) {
		t.Errorf("the same address again: %v, want a refusal as already allocated", err)
	}
	err = create("outside", "198.19.200.1")
	if err == nil || alreadyAllocated(err) {
		t.Errorf("an address in no ServiceCIDR: %v, want refused, not as already allocated", err)
	}
}

// TestClusterSetIPRetriesAnAddressTaken: an address the cache saw free but the apiserver
// says is taken (another allocator's, a moment ago) is passed over for the next.
func TestClusterSetIPRetriesAnAddressTaken(t *testing.T) {
	f := newFixture(t, nil)
	ranges := []ipRange{{Name: mcv1alpha1.ClusterSetIPRangeName, Prefix: suiteRange}}
	var squatted netip.Addr
	var taken map[netip.Addr]bool
	testenv.Eventually(t, wait, "an address of the range squatted", func() error {
		var err error
		if taken, err = takenNow(f.ctx); err != nil {
			return err
		}
		squatted, _ = lowestFree(ranges, taken)
		return f.squat("squatter", squatted)
	})
	// The taken addresses as they were before the squatter: the apiserver knows better.
	svc, err := createWithClusterSetIP(f.ctx, localSide.client, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: f.namespace},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, ranges, taken, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := netip.MustParseAddr(svc.Spec.ClusterIP); got == squatted || !suiteRange.Contains(got) {
		t.Errorf("cluster IP %s, want another address of %s than the squatted %s", got, suiteRange, squatted)
	}
	if !taken[squatted] {
		t.Errorf("the refused %s is not marked taken", squatted)
	}
}

// TestClusterSetIP: the ClusterSetIP comes from the labelled ServiceCIDRs, the lowest free
// address, unique; with no range, or none with room, the ServiceImport says so and has no IP,
// and gets one once there is room. The cases change the cluster's ranges: they run one by
// one, each putting the suite's range back.
func TestClusterSetIP(t *testing.T) {
	tests := []struct {
		name string
		run  func(f *fixture)
	}{
		{"in the range", func(f *fixture) {
			f.localService("inr", nil)
			f.export(localSide.client, "inr")
			f.awaitClusterSetIP("inr", suiteRange)
		}},
		{"two imports, two addresses", func(f *fixture) {
			for _, n := range []string{"one", "two"} {
				f.localService(n, nil)
				f.export(localSide.client, n)
			}
			one, two := f.awaitClusterSetIP("one", suiteRange), f.awaitClusterSetIP("two", suiteRange)
			if one == two {
				f.t.Errorf("both imports have %s", one)
			}
		}},
		{"an address taken by someone else is passed over", func(f *fixture) {
			var squatted netip.Addr
			testenv.Eventually(f.t, wait, "the lowest free address squatted", func() error {
				taken, err := takenNow(f.ctx)
				if err != nil {
					return err
				}
				squatted, _ = lowestFree([]ipRange{{Prefix: suiteRange}}, taken)
				return f.squat("squatter", squatted)
			})
			f.localService("skip", nil)
			f.export(localSide.client, "skip")
			if got := f.awaitClusterSetIP("skip", suiteRange); got == squatted {
				f.t.Errorf("the import has the squatted %s", got)
			}
		}},
		{"the range full: Ready=False, then an address freed", func(f *fixture) {
			// The exported Service first: the apiserver may give an ordinary Service any
			// range's address, and the test must know who holds the tiny range's.
			f.localService("full", nil)
			// A range of two addresses in place of the suite's.
			tiny := &networkingv1.ServiceCIDR{
				ObjectMeta: metav1.ObjectMeta{Name: "test-tiny", Labels: map[string]string{mcv1alpha1.LabelClusterSetIPRange: "true"}},
				Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{"198.19.127.252/30"}},
			}
			if err := localSide.client.Create(f.ctx, tiny); err != nil {
				f.t.Fatal(err)
			}
			f.t.Cleanup(func() { localSide.client.Delete(context.Background(), tiny) })
			f.labelSuiteRange(false)
			f.awaitRanges("test-tiny")
			for i, ip := range []string{"198.19.127.253", "198.19.127.254"} {
				// The apiserver's allocator learns of a new ServiceCIDR from its own watch.
				name := fmt.Sprintf("squatter-%d", i)
				testenv.Eventually(f.t, wait, "squatting "+ip, func() error { return f.squat(name, netip.MustParseAddr(ip)) })
				// The tiny range is free again for whatever comes next.
				f.t.Cleanup(func() {
					localSide.client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace}})
				})
			}
			f.export(localSide.client, "full")
			f.awaitImportReady("full", metav1.ConditionFalse, reasonRangeFull, "ServiceCIDR test-tiny", "label another ServiceCIDR")
			f.assertNoDerived("full")

			if err := localSide.client.Delete(f.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "squatter-1", Namespace: f.namespace}}); err != nil {
				f.t.Fatal(err)
			}
			if got := f.awaitClusterSetIP("full", netip.MustParsePrefix("198.19.127.252/30")); got.String() != "198.19.127.254" {
				f.t.Errorf("ClusterSetIP %s, want the freed 198.19.127.254", got)
			}
			// The import goes before the range does.
			f.unexport("full")
		}},
		{"no range: Ready=False, then the range labelled", func(f *fixture) {
			f.labelSuiteRange(false)
			f.awaitRanges()
			f.localService("lost", nil)
			f.export(localSide.client, "lost")
			f.awaitImportReady("lost", metav1.ConditionFalse, reasonRangeMissing, "mesh multicluster install", mcv1alpha1.LabelClusterSetIPRange)
			f.assertNoDerived("lost")
			f.labelSuiteRange(true)
			f.awaitClusterSetIP("lost", suiteRange)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			// Whatever a case did to the ranges, the next finds the suite's.
			t.Cleanup(func() { f.labelSuiteRange(true); f.awaitRanges(mcv1alpha1.ClusterSetIPRangeName) })
			tt.run(f)
		})
	}
}

// takenNow are the addresses allocated in the local cluster, read from the apiserver.
func takenNow(ctx context.Context) (map[netip.Addr]bool, error) {
	r := &clustersetReconciler{client: localSide.client}
	return r.takenAddresses(ctx)
}

// squat gives a Service of someone else's the address ip.
func (f *fixture) squat(name string, ip netip.Addr) error {
	return localSide.client.Create(f.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec:       corev1.ServiceSpec{ClusterIP: ip.String(), Ports: []corev1.ServicePort{{Port: 80}}},
	})
}

// labelSuiteRange labels the suite's ServiceCIDR as the range of ClusterSetIPs, or not.
func (f *fixture) labelSuiteRange(on bool) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var sc networkingv1.ServiceCIDR
	if err := localSide.client.Get(ctx, types.NamespacedName{Name: mcv1alpha1.ClusterSetIPRangeName}, &sc); err != nil {
		f.t.Fatal(err)
	}
	if (sc.Labels[mcv1alpha1.LabelClusterSetIPRange] == "true") == on {
		return
	}
	if on {
		sc.Labels = map[string]string{mcv1alpha1.LabelClusterSetIPRange: "true"}
	} else {
		delete(sc.Labels, mcv1alpha1.LabelClusterSetIPRange)
	}
	if err := localSide.client.Update(ctx, &sc); err != nil {
		f.t.Fatal(err)
	}
}

// awaitRanges waits for the controllers' cache to see exactly the labelled ServiceCIDRs
// names, so that what the test does next is reconciled with them.
func (f *fixture) awaitRanges(names ...string) {
	f.t.Helper()
	testenv.Eventually(f.t, wait, fmt.Sprintf("the labelled ServiceCIDRs to be %v in the cache", names), func() error {
		var list networkingv1.ServiceCIDRList
		if err := localCache.List(context.Background(), &list, rangeSelector); err != nil {
			return err
		}
		var got []string
		for _, sc := range list.Items {
			got = append(got, sc.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, names) {
			return fmt.Errorf("labelled: %v", got)
		}
		return nil
	})
}

// awaitClusterSetIP waits for the ServiceImport name to have a ClusterSetIP in want, its
// derived Service's, and to be Ready, and returns it.
func (f *fixture) awaitClusterSetIP(name string, want netip.Prefix) netip.Addr {
	f.t.Helper()
	var ip netip.Addr
	f.awaitImport(name, func(si *mcsv1alpha1.ServiceImport, svc *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		if len(si.Spec.IPs) != 1 || si.Spec.IPs[0] != svc.Spec.ClusterIP {
			return fmt.Errorf("ips %v, want the derived Service's %s", si.Spec.IPs, svc.Spec.ClusterIP)
		}
		a, err := netip.ParseAddr(si.Spec.IPs[0])
		if err != nil || !want.Contains(a) {
			return fmt.Errorf("ClusterSetIP %s outside %s", si.Spec.IPs[0], want)
		}
		if c := meta.FindStatusCondition(si.Status.Conditions, "Ready"); c == nil || c.Status != metav1.ConditionTrue || c.Reason != "Ready" {
			return fmt.Errorf("conditions %s, want Ready=True (Ready)", conditionSummary(si.Status.Conditions))
		}
		ip = a
		return nil
	})
	return ip
}

// awaitImportReady waits for the ServiceImport name's Ready condition.
func (f *fixture) awaitImportReady(name string, status metav1.ConditionStatus, reason string, says ...string) {
	f.t.Helper()
	testenv.Eventually(f.t, wait, fmt.Sprintf("ServiceImport %s Ready=%s (%s)", name, status, reason), func() error {
		var si mcsv1alpha1.ServiceImport
		if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name}, &si); err != nil {
			return err
		}
		c := meta.FindStatusCondition(si.Status.Conditions, "Ready")
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("conditions %s", conditionSummary(si.Status.Conditions))
		}
		for _, s := range says {
			if !strings.Contains(c.Message, s) {
				return fmt.Errorf("message %q does not say %q", c.Message, s)
			}
		}
		if status != metav1.ConditionTrue && len(si.Spec.IPs) > 0 {
			return fmt.Errorf("ips %v while not Ready", si.Spec.IPs)
		}
		return nil
	})
}

// assertNoDerived checks that the ServiceImport name has no derived Service.
func (f *fixture) assertNoDerived(name string) {
	f.t.Helper()
	err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name + mcv1alpha1.ClusterSetSuffix}, &corev1.Service{})
	if !apierrors.IsNotFound(err) {
		f.t.Errorf("the derived Service of %s: %v, want none", name, err)
	}
}

// unexport deletes the local ServiceExport name and waits for its import to go.
func (f *fixture) unexport(name string) {
	f.t.Helper()
	if err := localSide.client.Delete(f.ctx, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace}}); err != nil {
		f.t.Fatal(err)
	}
	f.awaitNoImport(name)
}
