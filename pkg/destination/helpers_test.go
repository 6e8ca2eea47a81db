package destination

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshfed/meshfed/internal/testenv"
	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
)

// Fixtures, built with modifiers.

func service(ns, name string, mods ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func withPorts(ports ...corev1.ServicePort) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}

func withAppProtocol(p string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptr.To(p) }
}

func slice(ns, svc, name string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(port)}},
		Endpoints:   eps,
	}
}

// endpoint is a ready endpoint of the pod named pod (none if empty).
func endpoint(ip, pod string, mods ...func(*discoveryv1.Endpoint)) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
	if pod != "" {
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pod}
	}
	for _, m := range mods {
		m(&e)
	}
	return e
}

func notReady(e *discoveryv1.Endpoint) {
	e.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
}

func pod(ns, name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withProxy(p *corev1.Pod) {
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: ProxyContainerName, Image: "proxy"})
}

func withNativeSidecar(p *corev1.Pod) {
	p.Spec.InitContainers = append(p.Spec.InitContainers,
		corev1.Container{Name: InitContainerName, Image: "proxy"},
		corev1.Container{Name: ProxyContainerName, Image: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
}

func withInjectAnnotation(p *corev1.Pod) {
	p.Annotations = map[string]string{InjectAnnotation: InjectEnabled}
}

func withSA(sa string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.ServiceAccountName = sa }
}

// ownedBy gives the pod a controller; a ReplicaSet's pod gets the pod-template-hash label its
// name ends with, as a Deployment's ReplicaSet does.
func ownedBy(kind, name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "0", Controller: ptr.To(true)}}
		if kind == "ReplicaSet" {
			p.Labels = map[string]string{"pod-template-hash": name[strings.LastIndex(name, "-")+1:]}
		}
	}
}

func createService(t *testing.T, s *corev1.Service) *corev1.Service {
	t.Helper()
	out, err := suite.admin.CoreV1().Services(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func createSlice(t *testing.T, s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t.Helper()
	out, err := suite.admin.DiscoveryV1().EndpointSlices(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func updateSlice(t *testing.T, s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t.Helper()
	out, err := suite.admin.DiscoveryV1().EndpointSlices(s.Namespace).Update(context.Background(), s, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// createPod makes the pod and, if ip is set, writes it in its status, as the kubelet would.
func createPod(t *testing.T, p *corev1.Pod, ip string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	out, err := suite.admin.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip == "" {
		return out
	}
	out.Status.Phase = corev1.PodRunning
	out.Status.PodIP = ip
	out.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if out, err = suite.admin.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// proxyView follows one Get stream as the proxy's discovery client does: it applies every
// Update to a set of endpoints by address.
type proxyView struct {
	mu        sync.Mutex
	updates   []*destinationv1.Update
	endpoints map[netip.AddrPort]*destinationv1.Endpoint
	exists    bool
	err       error
	changed   chan struct{}
}

func watchAuthority(t *testing.T, authority string) *proxyView {
	return watch(t, &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Authority{Authority: authority}})
}

func watchAddress(t *testing.T, addr string) *proxyView {
	ap := netip.MustParseAddrPort(addr)
	return watch(t, &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Address{Address: socketAddress(ap)}})
}

// watch opens a stream for req, closed when the test ends.
func watch(t *testing.T, req *destinationv1.GetDestination) *proxyView {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req.Context = &destinationv1.ProxyContext{Namespace: "client", Identity: "spiffe://" + testDomain + "/ns/client/sa/client"}
	stream, err := suite.client.Get(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxyView{endpoints: map[netip.AddrPort]*destinationv1.Endpoint{}, changed: make(chan struct{}, 1)}
	go func() {
		for {
			u, err := stream.Recv()
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				p.notify()
				return
			}
			p.apply(u)
			p.mu.Unlock()
			p.notify()
		}
	}()
	return p
}

func (p *proxyView) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *proxyView) apply(u *destinationv1.Update) {
	p.updates = append(p.updates, u)
	switch u := u.GetUpdate().(type) {
	case *destinationv1.Update_Add:
		for _, e := range u.Add.GetEndpoints() {
			p.endpoints[addrPortOf(e.GetAddress())] = e
		}
		p.exists = true
	case *destinationv1.Update_Remove:
		for _, a := range u.Remove.GetAddresses() {
			delete(p.endpoints, addrPortOf(a))
		}
	case *destinationv1.Update_NoEndpoints:
		clear(p.endpoints)
		p.exists = u.NoEndpoints.GetExists()
	}
}

// held is what the proxy holds: whether the target exists, and its endpoints.
type held struct {
	exists    bool
	endpoints []*destinationv1.Endpoint
}

// await waits until the proxy holds want, and fails the test with what it holds instead.
func (p *proxyView) await(t *testing.T, want held) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the proxy's view", func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err != nil {
			return fmt.Errorf("stream ended: %w", p.err)
		}
		if len(p.updates) == 0 {
			return errors.New("no update yet")
		}
		return p.diff(want)
	})
}

func (p *proxyView) diff(want held) error {
	if p.exists != want.exists {
		return fmt.Errorf("exists %v, want %v (endpoints %s)", p.exists, want.exists, p.describe())
	}
	if len(p.endpoints) != len(want.endpoints) {
		return fmt.Errorf("%d endpoints, want %d: %s", len(p.endpoints), len(want.endpoints), p.describe())
	}
	for _, w := range want.endpoints {
		got, ok := p.endpoints[addrPortOf(w.GetAddress())]
		if !ok {
			return fmt.Errorf("no endpoint at %s: %s", addrPortOf(w.GetAddress()), p.describe())
		}
		if !proto.Equal(got, w) {
			return fmt.Errorf("endpoint %s:\n  got  %s\n  want %s", addrPortOf(w.GetAddress()), prototext.Format(got), prototext.Format(w))
		}
	}
	return nil
}

func (p *proxyView) describe() string {
	var out []string
	for _, e := range sortedEndpoints(p.endpoints) {
		out = append(out, prototext.Format(e))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// received returns the updates received so far.
func (p *proxyView) received() []*destinationv1.Update {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.updates)
}

// Expected endpoints.

func ep(addr string, mods ...func(*destinationv1.Endpoint)) *destinationv1.Endpoint {
	e := &destinationv1.Endpoint{Address: socketAddress(netip.MustParseAddrPort(addr)), Weight: DefaultWeight, Labels: map[string]string{}}
	for _, m := range mods {
		m(e)
	}
	return e
}

func labels(kv ...string) func(*destinationv1.Endpoint) {
	return func(e *destinationv1.Endpoint) {
		for i := 0; i+1 < len(kv); i += 2 {
			e.Labels[kv[i]] = kv[i+1]
		}
	}
}

// ofPod sets what an endpoint takes from a pod: its labels and, if id is set, the identity
// of its ServiceAccount.
func ofPod(ns, pod, sa, workload string, meshed bool) func(*destinationv1.Endpoint) {
	return func(e *destinationv1.Endpoint) {
		e.Labels[labelPod] = pod
		e.Labels[labelNamespace] = ns
		e.Labels[labelServiceAccount] = sa
		if workload != "" {
			e.Labels[labelWorkload] = workload
		}
		if meshed {
			e.TlsIdentity = "spiffe://" + testDomain + "/ns/" + ns + "/sa/" + sa
		}
	}
}

func hint(h destinationv1.ProtocolHint) func(*destinationv1.Endpoint) {
	return func(e *destinationv1.Endpoint) { e.ProtocolHint = h }
}
