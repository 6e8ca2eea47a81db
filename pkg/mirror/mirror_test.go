package mirror

import (
	"fmt"
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
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/workload"
)

const wait = 30 * time.Second

// remoteService makes a Service in the remote cluster, with mods applied.
func (f *fixture) remoteService(name string, mods ...func(*corev1.Service)) *corev1.Service {
	f.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intOrStr(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mods {
		m(svc)
	}
	if err := remoteSide.client.Create(f.ctx, svc); err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func exported(value string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Labels[mcv1alpha1.LabelExported] = value }
}

func headless(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }

// remotePods gives a remote Service endpoints, as its endpointslice controller would.
func (f *fixture) remotePods(service string, pods map[string]string) {
	f.t.Helper()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-abc", Namespace: f.namespace, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for host, ip := range pods {
		ep := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
		if host != "" {
			ep.Hostname = ptr.To(host)
		}
		slice.Endpoints = append(slice.Endpoints, ep)
	}
	if err := remoteSide.client.Create(f.ctx, slice); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) mirrorOf(name string) string { return name + "-" + f.link.Spec.TargetClusterName }

// awaitMirror waits for the mirror Service and returns it with its EndpointSlices, once check
// accepts them.
func (f *fixture) awaitMirror(name string, check func(*corev1.Service, []discoveryv1.EndpointSlice) error) (*corev1.Service, []discoveryv1.EndpointSlice) {
	f.t.Helper()
	var svc corev1.Service
	var slices discoveryv1.EndpointSliceList
	testenv.Eventually(f.t, wait, "mirror "+name, func() error {
		if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name}, &svc); err != nil {
			return err
		}
		if err := localSide.client.List(f.ctx, &slices, client.InNamespace(f.namespace), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
			return err
		}
		return check(&svc, slices.Items)
	})
	return &svc, slices.Items
}

func (f *fixture) awaitGone(name string) {
	f.t.Helper()
	testenv.Eventually(f.t, wait, "mirror "+name+" to be deleted", func() error {
		var svc corev1.Service
		err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name}, &svc)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there")
	})
}

// awaitServiceCondition waits for the Link to say why the remote Service name is (not) mirrored.
func (f *fixture) awaitServiceCondition(name string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	f.t.Helper()
	var cond *metav1.Condition
	testenv.Eventually(f.t, wait, fmt.Sprintf("the Link to say %s is Mirrored=%s (%s)", name, status, reason), func() error {
		var link mcv1alpha1.Link
		if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(f.link), &link); err != nil {
			return err
		}
		for _, s := range link.Status.Services {
			if s.Namespace == f.namespace && s.Name == name {
				cond = meta.FindStatusCondition(s.Conditions, mcv1alpha1.ServiceMirrored)
				if cond != nil && cond.Status == status && cond.Reason == reason {
					return nil
				}
				return fmt.Errorf("condition %+v", cond)
			}
		}
		return fmt.Errorf("%s not in status.services (%d entries)", name, len(link.Status.Services))
	})
	return cond
}

func (f *fixture) awaitLinkCondition(typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	f.t.Helper()
	var cond *metav1.Condition
	testenv.Eventually(f.t, wait, fmt.Sprintf("Link condition %s=%s (%s)", typ, status, reason), func() error {
		var link mcv1alpha1.Link
		if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(f.link), &link); err != nil {
			return err
		}
		cond = meta.FindStatusCondition(link.Status.Conditions, typ)
		if cond != nil && cond.Status == status && cond.Reason == reason {
			return nil
		}
		return fmt.Errorf("condition %+v", cond)
	})
	return cond
}

func gatewayEndpoints(ready bool) func(*corev1.Service, []discoveryv1.EndpointSlice) error {
	return func(svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
		if len(slices) != 1 || len(slices[0].Endpoints) != 1 {
			return fmt.Errorf("%d slices, want 1 with the gateway", len(slices))
		}
		ep, s := slices[0].Endpoints[0], slices[0]
		if ep.Addresses[0] != "198.18.0.200" || *s.Ports[0].Port != 4143 || *s.Ports[0].Name != "http" {
			return fmt.Errorf("endpoint %v port %d, want the gateway 198.18.0.200:4143", ep.Addresses, *s.Ports[0].Port)
		}
		if *ep.Conditions.Ready != ready {
			return fmt.Errorf("gateway endpoint ready=%v, want %v", *ep.Conditions.Ready, ready)
		}
		return nil
	}
}

// TestExportsAreMirrored covers every way a Service is exported, and what its mirror looks like.
func TestExportsAreMirrored(t *testing.T) {
	tests := []struct {
		name          string
		mods          []func(*corev1.Service)
		serviceExport bool
		pods          map[string]string
		check         func(f *fixture, svc *corev1.Service, slices []discoveryv1.EndpointSlice) error
	}{
		{
			name: "label exported=true goes through the gateway",
			mods: []func(*corev1.Service){exported("true")},
			check: func(f *fixture, svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
				return gatewayEndpoints(true)(svc, slices)
			},
		},
		{
			name:          "a ServiceExport goes through the gateway",
			serviceExport: true,
			check: func(f *fixture, svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
				return gatewayEndpoints(true)(svc, slices)
			},
		},
		{
			name: "remote-discovery mirrors the pods' addresses",
			mods: []func(*corev1.Service){exported("remote-discovery")},
			pods: map[string]string{"": "198.18.144.7"},
			check: func(f *fixture, svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
				if len(slices) != 1 || len(slices[0].Endpoints) != 1 || slices[0].Endpoints[0].Addresses[0] != "198.18.144.7" {
					return fmt.Errorf("slices %+v, want the pod 198.18.144.7", slices)
				}
				if *slices[0].Ports[0].Port != 8080 {
					return fmt.Errorf("port %d, want the pod's 8080", *slices[0].Ports[0].Port)
				}
				return nil
			},
		},
		{
			name: "a headless Service through the gateway gets a mirror per pod",
			mods: []func(*corev1.Service){exported("true"), headless},
			pods: map[string]string{"web-0": "198.18.144.7", "web-1": "198.18.144.8"},
			check: func(f *fixture, svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
				if svc.Spec.ClusterIP != corev1.ClusterIPNone {
					return fmt.Errorf("mirror is not headless")
				}
				if len(slices) != 1 || len(slices[0].Endpoints) != 2 {
					return fmt.Errorf("%d slices, want 1 with both pods", len(slices))
				}
				for i, host := range []string{"web-0", "web-1"} {
					ep := slices[0].Endpoints[i]
					if ep.Hostname == nil || *ep.Hostname != host {
						return fmt.Errorf("endpoint %d hostname %v, want %s", i, ep.Hostname, host)
					}
					var pod corev1.Service
					name := podMirrorName(host, strings.TrimSuffix(svc.Name, "-"+f.link.Spec.TargetClusterName), f.link.Spec.TargetClusterName)
					if err := localSide.client.Get(f.ctx, types.NamespacedName{Namespace: f.namespace, Name: name}, &pod); err != nil {
						return fmt.Errorf("per-pod mirror %s: %w", name, err)
					}
					if ep.Addresses[0] != pod.Spec.ClusterIP {
						return fmt.Errorf("%s resolves to %s, want its mirror's cluster IP %s", host, ep.Addresses[0], pod.Spec.ClusterIP)
					}
				}
				return nil
			},
		},
		{
			name: "a headless Service flat resolves each pod to its address",
			mods: []func(*corev1.Service){exported("remote-discovery"), headless},
			pods: map[string]string{"web-0": "198.18.144.7"},
			check: func(f *fixture, svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
				if len(slices) != 1 || len(slices[0].Endpoints) != 1 || *slices[0].Endpoints[0].Hostname != "web-0" || slices[0].Endpoints[0].Addresses[0] != "198.18.144.7" {
					return fmt.Errorf("slices %+v, want web-0 at 198.18.144.7", slices)
				}
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, readerKubeconfig)
			f.remoteService("web", tt.mods...)
			if tt.pods != nil {
				f.remotePods("web", tt.pods)
			}
			if tt.serviceExport {
				if err := remoteSide.client.Create(f.ctx, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.namespace}}); err != nil {
					t.Fatal(err)
				}
			}
			svc, _ := f.awaitMirror(f.mirrorOf("web"), func(svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
				return tt.check(f, svc, slices)
			})
			want := map[string]string{
				mcv1alpha1.LabelMirroredService: "true",
				mcv1alpha1.LabelClusterName:     f.link.Spec.TargetClusterName,
				"app":                           "web",
			}
			for k, v := range want {
				if svc.Labels[k] != v {
					t.Errorf("mirror label %s=%q, want %q", k, svc.Labels[k], v)
				}
			}
			if _, ok := svc.Labels[mcv1alpha1.LabelExported]; ok {
				t.Error("the mirror carries the export label: linking back would export it again")
			}
			if got, want := svc.Annotations[mcv1alpha1.AnnotationRemoteSvcFQName], "web."+f.namespace+".svc.cluster.local"; got != want {
				t.Errorf("remote-svc-fq-name %q, want %q", got, want)
			}
			f.awaitServiceCondition("web", metav1.ConditionTrue, "Mirrored")
			f.awaitLinkCondition(mcv1alpha1.LinkReady, metav1.ConditionTrue, "Mirroring")
		})
	}
}

// TestMirrorsFollowTheRemote changes an export in every way a user does, and checks the mirror
// follows: a port change, an unexport, a delete, and a Link deleted with its mirrors.
func TestMirrorsFollowTheRemote(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	svc := f.remoteService("shop", exported("true"))
	f.awaitMirror(f.mirrorOf("shop"), gatewayEndpoints(true))

	svc.Spec.Ports[0].Port = 8443
	if err := remoteSide.client.Update(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	f.awaitMirror(f.mirrorOf("shop"), func(m *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		if m.Spec.Ports[0].Port != 8443 {
			return fmt.Errorf("mirror port %d, want 8443", m.Spec.Ports[0].Port)
		}
		return nil
	})

	delete(svc.Labels, mcv1alpha1.LabelExported)
	if err := remoteSide.client.Update(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	f.awaitGone(f.mirrorOf("shop"))

	cart := f.remoteService("cart", exported("true"))
	f.awaitMirror(f.mirrorOf("cart"), gatewayEndpoints(true))
	if err := remoteSide.client.Delete(f.ctx, cart); err != nil {
		t.Fatal(err)
	}
	f.awaitGone(f.mirrorOf("cart"))

	f.remoteService("till", exported("true"))
	f.awaitMirror(f.mirrorOf("till"), gatewayEndpoints(true))
	if err := localSide.client.Delete(f.ctx, f.link); err != nil {
		t.Fatal(err)
	}
	f.awaitGone(f.mirrorOf("till"))
	testenv.Eventually(t, wait, "the Link to go once its mirrors are gone", func() error {
		var l mcv1alpha1.Link
		if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(f.link), &l); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Link still there: %v", err)
		}
		return nil
	})
}

// TestNoWriteWhenNothingChanged: a remote change that does not touch what is mirrored writes
// nothing here.
func TestNoWriteWhenNothingChanged(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	f.remoteService("quiet", exported("true"))
	mirror, slices := f.awaitMirror(f.mirrorOf("quiet"), gatewayEndpoints(true))

	// New pods behind a gateway export change nothing here: its endpoint is the gateway.
	// A later export is mirrored after the pods' event is handled, which is when to look.
	f.remotePods("quiet", map[string]string{"": "198.18.144.9"})
	f.remoteService("later", exported("true"))
	f.awaitMirror(f.mirrorOf("later"), gatewayEndpoints(true))

	var after discoveryv1.EndpointSlice
	if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(&slices[0]), &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != slices[0].ResourceVersion {
		t.Errorf("the gateway slice was written (resourceVersion %s -> %s) though nothing it holds changed", slices[0].ResourceVersion, after.ResourceVersion)
	}
	var svcAfter corev1.Service
	if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(mirror), &svcAfter); err != nil {
		t.Fatal(err)
	}
	if svcAfter.ResourceVersion != mirror.ResourceVersion {
		t.Errorf("the mirror Service was written (resourceVersion %s -> %s) though the remote Service did not change", mirror.ResourceVersion, svcAfter.ResourceVersion)
	}
}

// TestNotMirrored: exports that cannot be mirrored say why on the Link, and nothing is lost.
func TestNotMirrored(t *testing.T) {
	f := newFixture(t, readerKubeconfig)

	long := strings.Repeat("a", 60)
	f.remoteService(long, exported("true"))
	cond := f.awaitServiceCondition(long, metav1.ConditionFalse, "NameTooLong")
	if !strings.Contains(cond.Message, "shorter name") {
		t.Errorf("NameTooLong message does not say the fix: %q", cond.Message)
	}

	f.remoteService("ext", exported("true"), func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "example.com"
		s.Spec.Selector = nil
		s.Spec.Ports = nil
	})
	f.awaitServiceCondition("ext", metav1.ConditionFalse, "ExternalName")

	// A Service of the mirror's name that is not a mirror is left alone.
	mine := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: f.mirrorOf("taken"), Namespace: f.namespace, Labels: map[string]string{"owner": "someone"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 1}}},
	}
	if err := localSide.client.Create(f.ctx, mine); err != nil {
		t.Fatal(err)
	}
	f.remoteService("taken", exported("true"))
	f.awaitServiceCondition("taken", metav1.ConditionFalse, "NameConflict")
	var still corev1.Service
	if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(mine), &still); err != nil || still.Labels["owner"] != "someone" || still.Spec.Ports[0].Port != 1 {
		t.Errorf("the Service that was not a mirror was touched: %v %+v", err, still)
	}
	f.awaitLinkCondition(mcv1alpha1.LinkReady, metav1.ConditionFalse, "ServicesNotMirrored")
}

func TestMissingNamespace(t *testing.T) {
	for _, create := range []bool{false, true} {
		t.Run(fmt.Sprintf("createMissingNamespaces=%v", create), func(t *testing.T) {
			f := newFixture(t, readerKubeconfig, func(l *mcv1alpha1.Link) { l.Spec.CreateMissingNamespaces = create })
			if err := localSide.client.Delete(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.namespace}}); err != nil {
				t.Fatal(err)
			}
			// envtest runs no namespace controller: the namespace stays Terminating, so the
			// test uses one that never existed here instead.
			ns := f.namespace + "-remote-only"
			if err := remoteSide.client.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			f.namespace = ns
			f.remoteService("api", exported("true"))
			if !create {
				cond := f.awaitServiceCondition("api", metav1.ConditionFalse, "NamespaceMissing")
				if !strings.Contains(cond.Message, "createMissingNamespaces") {
					t.Errorf("message does not say the fix: %q", cond.Message)
				}
				return
			}
			f.awaitMirror(f.mirrorOf("api"), gatewayEndpoints(true))
		})
	}
}

// TestBadCredentials: each problem with a Link's credentials is a condition naming it and
// the fix.
func TestBadCredentials(t *testing.T) {
	tests := []struct {
		name       string
		kubeconfig []byte
		reason     string
		says       string
	}{
		{"no Secret", nil, "SecretNotFound", "mesh multicluster link"},
		{"not a kubeconfig", []byte("apiVersion: [this is not yaml"), "KubeconfigInvalid", "the kubeconfig does not parse"},
		{"a kubeconfig pointing nowhere", []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), "RemoteUnreachable", ""},
		{"credentials that can write", adminKubeconfig, "NotReadOnly", "read-only ServiceAccount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.kubeconfig)
			if tt.reason == "RemoteUnreachable" {
				f.awaitLinkCondition(mcv1alpha1.LinkRemoteReachable, metav1.ConditionFalse, "Unreachable")
				return
			}
			cond := f.awaitLinkCondition(mcv1alpha1.LinkCredentialsValid, metav1.ConditionFalse, tt.reason)
			if !strings.Contains(cond.Message, tt.says) {
				t.Errorf("message %q does not say %q", cond.Message, tt.says)
			}
			f.awaitLinkCondition(mcv1alpha1.LinkReady, metav1.ConditionFalse, "CredentialsInvalid")
		})
	}
}

// TestLinkNarrowsWhatIsTaken: a Link's selector takes only the exports it selects, and its
// excluded labels and annotations are not copied onto the mirrors.
func TestLinkNarrowsWhatIsTaken(t *testing.T) {
	f := newFixture(t, readerKubeconfig, func(l *mcv1alpha1.Link) {
		l.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}
		l.Spec.ExcludedLabels = []string{"team"}
		l.Spec.ExcludedAnnotations = []string{"example.com/notes"}
	})
	labelled := func(kv ...string) func(*corev1.Service) {
		return func(s *corev1.Service) {
			for i := 0; i < len(kv); i += 2 {
				s.Labels[kv[i]] = kv[i+1]
			}
		}
	}
	back := f.remoteService("back", exported("true"), labelled("tier", "back"))
	front := f.remoteService("front", exported("true"), labelled("tier", "front", "team", "shop"), func(s *corev1.Service) {
		s.Annotations = map[string]string{"example.com/notes": "internal", "example.com/owner": "shop"}
	})
	f.awaitMirror(f.mirrorOf("front"), func(m *corev1.Service, _ []discoveryv1.EndpointSlice) error {
		switch {
		case m.Labels["tier"] != "front":
			return fmt.Errorf("mirror labels %v, want tier=front copied", m.Labels)
		case m.Labels["team"] != "":
			return fmt.Errorf("mirror labels %v, want team excluded", m.Labels)
		case m.Annotations["example.com/owner"] != "shop":
			return fmt.Errorf("mirror annotations %v, want example.com/owner copied", m.Annotations)
		case m.Annotations["example.com/notes"] != "":
			return fmt.Errorf("mirror annotations %v, want example.com/notes excluded", m.Annotations)
		}
		return nil
	})
	var m corev1.Service
	if err := localSide.client.Get(f.ctx, client.ObjectKey{Namespace: f.namespace, Name: f.mirrorOf("back")}, &m); !apierrors.IsNotFound(err) {
		t.Errorf("back, which the selector does not take, has a mirror (%v)", err)
	}

	// Relabelled in or out, an export follows the selector.
	back.Labels["tier"] = "front"
	if err := remoteSide.client.Update(f.ctx, back); err != nil {
		t.Fatal(err)
	}
	f.awaitMirror(f.mirrorOf("back"), gatewayEndpoints(true))
	front.Labels["tier"] = "other"
	if err := remoteSide.client.Update(f.ctx, front); err != nil {
		t.Fatal(err)
	}
	f.awaitGone(f.mirrorOf("front"))
}

// TestCredentialsTurnBad: a Link whose Secret is changed to credentials that are refused keeps
// its mirrors, not ready, says why, and mirrors again once the Secret is fixed.
func TestCredentialsTurnBad(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	f.remoteService("steady", exported("true"))
	f.awaitMirror(f.mirrorOf("steady"), gatewayEndpoints(true))

	setCredentials := func(kubeconfig []byte) {
		t.Helper()
		var s corev1.Secret
		if err := localSide.client.Get(f.ctx, client.ObjectKey{Namespace: linkNamespace, Name: f.link.Spec.CredentialsSecret}, &s); err != nil {
			t.Fatal(err)
		}
		s.Data[mcv1alpha1.CredentialsKey] = kubeconfig
		if err := localSide.client.Update(f.ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	setCredentials(adminKubeconfig)
	f.awaitLinkCondition(mcv1alpha1.LinkCredentialsValid, metav1.ConditionFalse, "NotReadOnly")
	f.awaitMirror(f.mirrorOf("steady"), gatewayEndpoints(false))

	setCredentials(readerKubeconfig)
	f.awaitLinkCondition(mcv1alpha1.LinkCredentialsValid, metav1.ConditionTrue, "Valid")
	f.awaitMirror(f.mirrorOf("steady"), gatewayEndpoints(true))
}

// TestFlatIdentities: a remote-discovery mirror says the identity of each meshed remote pod,
// and holds back, not ready, an endpoint whose pod it has not read.
func TestFlatIdentities(t *testing.T) {
	f := newFixture(t, readerKubeconfig, func(l *mcv1alpha1.Link) {
		l.Spec.GatewayIdentity = "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway"
	})
	for name, meshed := range map[string]bool{"flat-meshed": true, "flat-plain": false} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
			Spec:       corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		}
		if meshed {
			pod.Annotations = map[string]string{workload.InjectAnnotation: workload.InjectEnabled}
		}
		if err := remoteSide.client.Create(f.ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	f.remoteService("flat", exported(mcv1alpha1.ExportedRemoteDiscovery))
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "flat-abc", Namespace: f.namespace, Labels: map[string]string{discoveryv1.LabelServiceName: "flat"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for ip, pod := range map[string]string{"198.18.144.31": "flat-meshed", "198.18.144.32": "flat-plain", "198.18.144.33": "flat-unknown"} {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: f.namespace, Name: pod},
		})
	}
	if err := remoteSide.client.Create(f.ctx, slice); err != nil {
		t.Fatal(err)
	}
	f.awaitMirror(f.mirrorOf("flat"), func(_ *corev1.Service, slices []discoveryv1.EndpointSlice) error {
		if len(slices) != 1 {
			return fmt.Errorf("%d slices, want 1", len(slices))
		}
		want := "198.18.144.31=spiffe://east.meshfed.local/ns/" + f.namespace + "/sa/web"
		if got := slices[0].Annotations[mcv1alpha1.AnnotationEndpointIdentities]; got != want {
			return fmt.Errorf("identities %q, want %q (the meshed pod only)", got, want)
		}
		ready := map[string]bool{}
		for _, ep := range slices[0].Endpoints {
			ready[ep.Addresses[0]] = *ep.Conditions.Ready
		}
		if want := map[string]bool{"198.18.144.31": true, "198.18.144.32": true, "198.18.144.33": false}; fmt.Sprint(ready) != fmt.Sprint(want) {
			return fmt.Errorf("ready %v, want %v (the endpoint of a pod not read waits)", ready, want)
		}
		return nil
	})
}
