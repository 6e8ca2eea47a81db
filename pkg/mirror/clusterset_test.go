package mirror

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/meshfed/meshfed/internal/testenv"
	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/workload"
)

// export makes a ServiceExport of name on c's side.
func (f *fixture) export(c client.Client, name string) *mcsv1alpha1.ServiceExport {
	f.t.Helper()
	se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace}}
	if err := c.Create(f.ctx, se); err != nil {
		f.t.Fatal(err)
	}
	return se
}

// localService makes a Service here, with mods applied, and endpoints at pods if any.
func (f *fixture) localService(name string, pods []string, mods ...func(*corev1.Service)) *corev1.Service {
	f.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intOrStr(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mods {
		m(svc)
	}
	if err := localSide.client.Create(f.ctx, svc); err != nil {
		f.t.Fatal(err)
	}
	if len(pods) > 0 {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-local", Namespace: f.namespace, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		for _, ip := range pods {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		if err := localSide.client.Create(f.ctx, slice); err != nil {
			f.t.Fatal(err)
		}
	}
	return svc
}

// awaitImport waits for the ServiceImport name, its derived Service and their slices, until
// check accepts them.
func (f *fixture) awaitImport(name string, check func(*mcsv1alpha1.ServiceImport, *corev1.Service, []discoveryv1.EndpointSlice) error) {
	f.t.Helper()
	testenv.Eventually(f.t, wait, "ServiceImport "+name, func() error {
		var si mcsv1alpha1.ServiceImport
		if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name}, &si); err != nil {
			return err
		}
		var svc corev1.Service
		if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name + mcv1alpha1.ClusterSetSuffix}, &svc); err != nil {
			return err
		}
		var sl discoveryv1.EndpointSliceList
		if err := localSide.client.List(f.ctx, &sl, client.InNamespace(f.namespace), client.MatchingLabels{mcsv1alpha1.LabelServiceName: name}); err != nil {
			return err
		}
		return check(&si, &svc, sl.Items)
	})
}

func (f *fixture) awaitNoImport(name string) {
	f.t.Helper()
	testenv.Eventually(f.t, wait, "ServiceImport "+name+" and its Service to be deleted", func() error {
		for _, obj := range []client.Object{&mcsv1alpha1.ServiceImport{}, &corev1.Service{}} {
			n := name
			if _, ok := obj.(*corev1.Service); ok {
				n += mcv1alpha1.ClusterSetSuffix
			}
			err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: n}, obj)
			if err == nil {
				return fmt.Errorf("%T %s still there", obj, n)
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// awaitExportCondition waits for the local ServiceExport name's condition typ.
func (f *fixture) awaitExportCondition(name, typ string, status metav1.ConditionStatus, reason string, says ...string) {
	f.t.Helper()
	testenv.Eventually(f.t, wait, fmt.Sprintf("ServiceExport %s %s=%s (%s)", name, typ, status, reason), func() error {
		var se mcsv1alpha1.ServiceExport
		if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name}, &se); err != nil {
			return err
		}
		c := meta.FindStatusCondition(se.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("conditions %s", conditionSummary(se.Status.Conditions))
		}
		for _, s := range says {
			if !strings.Contains(c.Message, s) {
				return fmt.Errorf("%s message %q does not say %q", typ, c.Message, s)
			}
		}
		return nil
	})
}

func importPorts(si *mcsv1alpha1.ServiceImport) []int32 {
	var out []int32
	for _, p := range si.Spec.Ports {
		out = append(out, p.Port)
	}
	return out
}

func clusters(si *mcsv1alpha1.ServiceImport) []string {
	var out []string
	for _, c := range si.Status.Clusters {
		out = append(out, c.Cluster)
	}
	return out
}

// TestServiceImport: a Service exported in the linked cluster becomes a ServiceImport here,
// with a ClusterSetIP that is its derived Service's and a slice at the remote gateway; this
// cluster's own export of the same name joins it (ports united, its pods copied); the
// import stays while one cluster exports and goes after the last unexport.
func TestServiceImport(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	east := f.link.Spec.TargetClusterName
	f.remoteService("web")
	f.remotePods("web", map[string]string{"": "198.18.144.30"})
	remoteExport := f.export(remoteSide.client, "web")

	f.awaitImport("web", func(si *mcsv1alpha1.ServiceImport, svc *corev1.Service, sl []discoveryv1.EndpointSlice) error {
		if si.Spec.Type != mcsv1alpha1.ClusterSetIP || len(si.Spec.IPs) != 1 || si.Spec.IPs[0] != svc.Spec.ClusterIP {
			return fmt.Errorf("type %s ips %v, want ClusterSetIP at the derived Service's %s", si.Spec.Type, si.Spec.IPs, svc.Spec.ClusterIP)
		}
		if ip, err := netip.ParseAddr(si.Spec.IPs[0]); err != nil || !suiteRange.Contains(ip) {
			return fmt.Errorf("ClusterSetIP %s outside the ClusterSetIP range %s", si.Spec.IPs[0], suiteRange)
		}
		if fmt.Sprint(importPorts(si)) != "[80]" || fmt.Sprint(clusters(si)) != fmt.Sprintf("[%s]", east) {
			return fmt.Errorf("ports %v clusters %v, want [80] [%s]", importPorts(si), clusters(si), east)
		}
		if len(sl) != 1 {
			return fmt.Errorf("%d slices, want the gateway's", len(sl))
		}
		s := sl[0]
		if s.Labels[mcsv1alpha1.LabelSourceCluster] != east || s.Labels[discoveryv1.LabelManagedBy] != managedBy ||
			s.Labels[discoveryv1.LabelServiceName] != svc.Name || s.Endpoints[0].Addresses[0] != "198.18.0.200" || !*s.Endpoints[0].Conditions.Ready {
			return fmt.Errorf("slice labels %v endpoints %+v, want %s's ready gateway", s.Labels, s.Endpoints, east)
		}
		return nil
	})
	f.awaitServiceCondition("web", metav1.ConditionTrue, "Mirrored")

	// This cluster exports web too, with one more port: the union, two source clusters, and
	// the local pods copied with the derived Service's port names.
	time.Sleep(1100 * time.Millisecond) // creation times are to the second: the remote export is the older
	f.localService("web", []string{"198.18.128.9"}, func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "grpc", Port: 9090, TargetPort: intOrStr(9090), Protocol: corev1.ProtocolTCP})
	})
	localExport := f.export(localSide.client, "web")
	f.awaitImport("web", func(si *mcsv1alpha1.ServiceImport, svc *corev1.Service, sl []discoveryv1.EndpointSlice) error {
		if fmt.Sprint(importPorts(si)) != "[80 9090]" || !slices.Equal(clusters(si), []string{east, localCluster}) {
			return fmt.Errorf("ports %v clusters %v, want [80 9090] [%s %s]", importPorts(si), clusters(si), east, localCluster)
		}
		for _, s := range sl {
			if s.Labels[mcsv1alpha1.LabelSourceCluster] != localCluster {
				continue
			}
			if len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != "198.18.128.9" || len(s.Ports) != 1 || *s.Ports[0].Name != "http" || *s.Ports[0].Port != 8080 {
				return fmt.Errorf("local slice endpoints %+v ports %+v, want the local pod on http 8080", s.Endpoints, s.Ports)
			}
			return nil
		}
		return fmt.Errorf("no slice of %s among %d", localCluster, len(sl))
	})
	f.awaitExportCondition("web", mcsv1alpha1.ServiceExportValid, metav1.ConditionTrue, "Valid", "web.")
	f.awaitExportCondition("web", mcsv1alpha1.ServiceExportConflict, metav1.ConditionFalse, "NoConflicts")

	// The remote unexports: the import stays, this cluster's alone.
	if err := remoteSide.client.Delete(f.ctx, remoteExport); err != nil {
		t.Fatal(err)
	}
	f.awaitImport("web", func(si *mcsv1alpha1.ServiceImport, _ *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		if !slices.Equal(clusters(si), []string{localCluster}) {
			return fmt.Errorf("clusters %v, want [%s]", clusters(si), localCluster)
		}
		return nil
	})
	// The last unexport: the import goes, and within seconds.
	start := time.Now()
	if err := localSide.client.Delete(f.ctx, localExport); err != nil {
		t.Fatal(err)
	}
	f.awaitNoImport("web")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the import went %v after the last unexport, want seconds", d)
	}
}

// TestHeadlessImportThroughTheGateway: a headless export of a linked cluster is imported at
// its per-pod mirrors, under the pods' hostnames, so that clusterset.local names each pod;
// never at the gateway, which is no pod's address.
func TestHeadlessImportThroughTheGateway(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	f.remoteService("db", headless)
	f.remotePods("db", map[string]string{"db-0": "198.18.144.7", "db-1": "198.18.144.8"})
	f.export(remoteSide.client, "db")
	cluster := f.link.Spec.TargetClusterName
	f.awaitImport("db", func(si *mcsv1alpha1.ServiceImport, _ *corev1.Service, slices []discoveryv1.EndpointSlice) error {
		if si.Spec.Type != mcsv1alpha1.Headless {
			return fmt.Errorf("type %s, want Headless", si.Spec.Type)
		}
		if len(slices) != 1 {
			return fmt.Errorf("%d slices, want the member's one", len(slices))
		}
		s := slices[0]
		if s.Labels[mcv1alpha1.LabelMirrorMode] != mcv1alpha1.MirrorModePodMirrors || s.Labels[mcsv1alpha1.LabelSourceCluster] != cluster {
			return fmt.Errorf("slice labels %v, want mode %s from %s", s.Labels, mcv1alpha1.MirrorModePodMirrors, cluster)
		}
		if s.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName] != "" {
			return fmt.Errorf("slice names a way through the gateway, %q", s.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName])
		}
		if len(s.Endpoints) != 2 {
			return fmt.Errorf("endpoints %+v, want one per pod", s.Endpoints)
		}
		for i, host := range []string{"db-0", "db-1"} {
			ep := s.Endpoints[i]
			var pod corev1.Service
			if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: podMirrorName(host, "db", cluster)}, &pod); err != nil {
				return fmt.Errorf("per-pod mirror of %s: %w", host, err)
			}
			if ep.Hostname == nil || *ep.Hostname != host || ep.Addresses[0] != pod.Spec.ClusterIP || ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				return fmt.Errorf("endpoint %d %+v, want %s at its mirror's %s, ready", i, ep, host, pod.Spec.ClusterIP)
			}
		}
		return nil
	})
}

// TestServiceExportConflict: exports that disagree resolve by the oldest, and this cluster's
// export says which fields conflict.
func TestServiceExportConflict(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	// The remote's, first: headless, port 80 named "web".
	f.remoteService("db", headless, func(s *corev1.Service) { s.Spec.Ports[0].Name = "web" })
	f.export(remoteSide.client, "db")
	f.awaitImport("db", func(si *mcsv1alpha1.ServiceImport, _ *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		if si.Spec.Type != mcsv1alpha1.Headless {
			return fmt.Errorf("type %s, want Headless", si.Spec.Type)
		}
		return nil
	})
	time.Sleep(1100 * time.Millisecond)
	// Ours, later: a cluster IP, port 80 named "http", ClientIP affinity.
	f.localService("db", nil, func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP })
	f.export(localSide.client, "db")
	f.awaitExportCondition("db", mcsv1alpha1.ServiceExportConflict, metav1.ConditionTrue, "PortConflict",
		"ports", "type", "sessionAffinity", "cluster "+f.link.Spec.TargetClusterName)
	f.awaitExportCondition("db", mcsv1alpha1.ServiceExportValid, metav1.ConditionTrue, "Valid")
	f.awaitImport("db", func(si *mcsv1alpha1.ServiceImport, svc *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		if si.Spec.Type != mcsv1alpha1.Headless || svc.Spec.ClusterIP != corev1.ClusterIPNone || si.Spec.SessionAffinity != corev1.ServiceAffinityNone {
			return fmt.Errorf("type %s clusterIP %s affinity %s, want the oldest export's: Headless, None", si.Spec.Type, svc.Spec.ClusterIP, si.Spec.SessionAffinity)
		}
		if len(si.Spec.Ports) != 1 || si.Spec.Ports[0].Name != "web" {
			return fmt.Errorf("ports %+v, want the oldest's port 80 named web", si.Spec.Ports)
		}
		return nil
	})
}

// TestServiceExportInvalid: an export that cannot be imported says why, and is imported
// nowhere.
func TestServiceExportInvalid(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		name    string
		service string
		mods    []func(*corev1.Service)
		missing bool
		reason  string
		says    string
	}{
		{name: "no Service", service: "ghost", missing: true, reason: "NoService", says: "create it"},
		{name: "ExternalName", service: "ext", mods: []func(*corev1.Service){func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}
		}}, reason: "InvalidServiceType", says: "ExternalName"},
		{name: "a name too long for the derived Service", service: long, reason: "NameTooLong", says: "shorten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, readerKubeconfig)
			if !tt.missing {
				f.localService(tt.service, nil, tt.mods...)
			}
			f.export(localSide.client, tt.service)
			f.awaitExportCondition(tt.service, mcsv1alpha1.ServiceExportValid, metav1.ConditionFalse, tt.reason, tt.says)
			var si mcsv1alpha1.ServiceImport
			if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: tt.service}, &si); !apierrors.IsNotFound(err) {
				t.Errorf("a ServiceImport of an invalid export: %v", err)
			}
		})
	}
}

// TestRemoteImportNameTooLong: a remote export whose derived Service's name would be too long
// is refused, and its Link says why.
func TestRemoteImportNameTooLong(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	name := strings.Repeat("b", 55)
	f.remoteService(name)
	f.export(remoteSide.client, name)
	f.awaitServiceCondition(name, metav1.ConditionFalse, "NameTooLong")
}

// TestServiceImportNoWriteWhenNothingChanged: a change to the exported Service that changes
// nothing imported writes nothing: not the ServiceImport, its Service, its slice nor the
// ServiceExport's status.
func TestServiceImportNoWriteWhenNothingChanged(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	svc := f.localService("calm", []string{"198.18.128.20"})
	f.export(localSide.client, "calm")
	f.awaitExportCondition("calm", mcsv1alpha1.ServiceExportConflict, metav1.ConditionFalse, "NoConflicts")
	f.awaitImport("calm", func(_ *mcsv1alpha1.ServiceImport, _ *corev1.Service, sl []discoveryv1.EndpointSlice) error {
		if len(sl) != 1 {
			return fmt.Errorf("%d slices, want this cluster's", len(sl))
		}
		return nil
	})
	objs := []client.Object{
		&mcsv1alpha1.ServiceImport{ObjectMeta: metav1.ObjectMeta{Name: "calm", Namespace: f.namespace}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "calm" + mcv1alpha1.ClusterSetSuffix, Namespace: f.namespace}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "calm" + mcv1alpha1.ClusterSetSuffix + "-" + localCluster + "-ipv4", Namespace: f.namespace}},
		&mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "calm", Namespace: f.namespace}},
	}
	before := map[string]string{}
	for _, o := range objs {
		if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		before[fmt.Sprintf("%T", o)] = o.GetResourceVersion()
	}

	// A label on the exported Service: reconciled, and nothing to do. A later export is
	// imported after, which is when to look.
	svc.Labels = map[string]string{"touched": "yes"}
	if err := localSide.client.Update(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	f.localService("later", nil)
	f.export(localSide.client, "later")
	f.awaitImport("later", func(*mcsv1alpha1.ServiceImport, *corev1.Service, []discoveryv1.EndpointSlice) error { return nil })
	time.Sleep(500 * time.Millisecond)

	for _, o := range objs {
		if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		if rv := o.GetResourceVersion(); rv != before[fmt.Sprintf("%T", o)] {
			t.Errorf("%T %s was written (resourceVersion %s -> %s) though nothing imported changed", o, o.GetName(), before[fmt.Sprintf("%T", o)], rv)
		}
	}
}

// TestLinkClusterNameMismatch: a remote whose ClusterProperty names it otherwise than the
// Link's targetClusterName is refused, and the Link says both names.
func TestLinkClusterNameMismatch(t *testing.T) {
	ctx := context.Background()
	prop := &aboutv1alpha1.ClusterProperty{ObjectMeta: metav1.ObjectMeta{Name: aboutv1alpha1.ClusterIDProperty}, Spec: aboutv1alpha1.ClusterPropertySpec{Value: "north"}}
	if err := remoteSide.client.Create(ctx, prop); err != nil {
		t.Fatal(err)
	}
	// The remote is every test's: its name goes with this test.
	t.Cleanup(func() { remoteSide.client.Delete(context.Background(), prop) })
	f := newFixture(t, readerKubeconfig)
	c := f.awaitLinkCondition(mcv1alpha1.LinkCredentialsValid, metav1.ConditionFalse, "ClusterNameMismatch")
	if !strings.Contains(c.Message, "north") || !strings.Contains(c.Message, f.link.Spec.TargetClusterName) {
		t.Errorf("message %q does not name both north and %s", c.Message, f.link.Spec.TargetClusterName)
	}
}

// TestServiceImportGoesWithTheLastRemoteExport: imported from a linked cluster alone, the
// ServiceImport, its Service and its slice go within seconds of that cluster's unexport.
func TestServiceImportGoesWithTheLastRemoteExport(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	f.remoteService("api")
	se := f.export(remoteSide.client, "api")
	f.awaitImport("api", func(_ *mcsv1alpha1.ServiceImport, _ *corev1.Service, sl []discoveryv1.EndpointSlice) error {
		if len(sl) != 1 {
			return fmt.Errorf("%d slices, want the gateway's", len(sl))
		}
		return nil
	})
	start := time.Now()
	if err := remoteSide.client.Delete(f.ctx, se); err != nil {
		t.Fatal(err)
	}
	f.awaitNoImport("api")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the import went %v after the last unexport, want seconds", d)
	}
	testenv.Eventually(t, wait, "the gateway slice to go", func() error {
		var sl discoveryv1.EndpointSliceList
		if err := localSide.client.List(f.ctx, &sl, client.InNamespace(f.namespace), client.MatchingLabels{mcsv1alpha1.LabelServiceName: "api"}); err != nil {
			return err
		}
		if len(sl.Items) > 0 {
			return fmt.Errorf("%d slices left", len(sl.Items))
		}
		return nil
	})
}

// TestServiceImportFlat: a flat (remote-discovery) export's member slice holds the remote
// pods, with their identities, not a gateway: kube-proxy and meshed clients reach them
// directly.
func TestServiceImportFlat(t *testing.T) {
	f := newFixture(t, readerKubeconfig, func(l *mcv1alpha1.Link) {
		l.Spec.GatewayAddresses = nil
		l.Spec.GatewayIdentity = "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway"
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "flatimp-0", Namespace: f.namespace, Annotations: map[string]string{workload.InjectAnnotation: workload.InjectEnabled}},
		Spec:       corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	if err := remoteSide.client.Create(f.ctx, pod); err != nil {
		t.Fatal(err)
	}
	f.remoteService("flatimp", exported(mcv1alpha1.ExportedRemoteDiscovery))
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "flatimp-abc", Namespace: f.namespace, Labels: map[string]string{discoveryv1.LabelServiceName: "flatimp"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"198.18.144.41"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: f.namespace, Name: "flatimp-0"},
		}},
	}
	if err := remoteSide.client.Create(f.ctx, slice); err != nil {
		t.Fatal(err)
	}
	f.export(remoteSide.client, "flatimp")
	f.awaitServiceCondition("flatimp", metav1.ConditionTrue, "Mirrored")
	f.awaitImport("flatimp", func(si *mcsv1alpha1.ServiceImport, _ *corev1.Service, sl []discoveryv1.EndpointSlice) error {
		if len(sl) != 1 || len(sl[0].Endpoints) != 1 {
			return fmt.Errorf("%d slices, want one with the remote pod", len(sl))
		}
		s := sl[0]
		if s.Endpoints[0].Addresses[0] != "198.18.144.41" || !*s.Endpoints[0].Conditions.Ready || *s.Ports[0].Port != 8080 {
			return fmt.Errorf("endpoints %+v ports %+v, want the ready pod 198.18.144.41 on 8080", s.Endpoints, s.Ports)
		}
		if s.Labels[mcv1alpha1.LabelMirrorMode] != mcv1alpha1.MirrorModeRemoteDiscovery || s.Labels[mcsv1alpha1.LabelSourceCluster] != f.link.Spec.TargetClusterName {
			return fmt.Errorf("labels %v, want mode remote-discovery from %s", s.Labels, f.link.Spec.TargetClusterName)
		}
		want := "198.18.144.41=spiffe://east.meshfed.local/ns/" + f.namespace + "/sa/web"
		if got := s.Annotations[mcv1alpha1.AnnotationEndpointIdentities]; got != want {
			return fmt.Errorf("identities %q, want %q", got, want)
		}
		return nil
	})
}
