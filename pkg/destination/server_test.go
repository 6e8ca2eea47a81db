package destination

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshfed/meshfed/internal/testenv"
	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// ip returns the i-th address of the test namespace's own /24, so that pod IPs, which the
// service indexes cluster-wide, never meet across tests.
func ip(ns string, i int) string {
	n, _ := strconv.Atoi(strings.TrimPrefix(ns, "test-"))
	return fmt.Sprintf("198.18.%d.%d", n, i)
}

func ipPort(ns string, i, port int) string { return ip(ns, i) + ":" + strconv.Itoa(port) }

// check is one subscription and what the proxy must hold after its first answer.
type check struct {
	authority, address string
	want               held
}

// Each case makes its objects in a namespace of its own, then subscribes as a proxy would,
// by every name it lists.
func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, ns string) []check
	}{
		{"authority forms and ClusterIP", func(t *testing.T, ns string) []check {
			svc := createService(t, service(ns, "web"))
			createPod(t, pod(ns, "web-a", withProxy, withSA("web"), ownedBy("ReplicaSet", "web-5d8f9c")), "")
			createPod(t, pod(ns, "web-b", withSA("web")), "")
			createPod(t, pod(ns, "web-c", withProxy, withSA("web")), "")
			createSlice(t, slice(ns, "web", "web-1", 8080,
				endpoint(ip(ns, 1), "web-a", func(e *discoveryv1.Endpoint) { e.Zone = ptr.To("zone-a") }),
				endpoint(ip(ns, 2), "web-b"),
				endpoint(ip(ns, 3), "web-c", notReady)))
			want := held{exists: true, endpoints: []*destinationv1.Endpoint{
				ep(ipPort(ns, 1, 8080), labels("service", "web", "zone", "zone-a"), ofPod(ns, "web-a", "web", "deployment/web", true)),
				ep(ipPort(ns, 2, 8080), labels("service", "web"), ofPod(ns, "web-b", "web", "", false)),
			}}
			return []check{
				{authority: "web." + ns + ".svc.cluster.local:80", want: want},
				{authority: "web." + ns + ".svc:80", want: want},
				{authority: "web." + ns + ":80", want: want},
				{authority: "Web." + ns + ".SVC.Cluster.Local.:80", want: want},
				{address: svc.Spec.ClusterIP + ":80", want: want},
			}
		}},
		{"not in the mesh", func(t *testing.T, ns string) []check {
			svc := createService(t, service(ns, "web"))
			createSlice(t, slice(ns, "web", "web-1", 8080, endpoint(ip(ns, 1), "")))
			done := createPod(t, pod(ns, "done", withProxy), ip(ns, 9))
			done.Status.Phase = corev1.PodSucceeded
			if _, err := suite.admin.CoreV1().Pods(ns).UpdateStatus(context.Background(), done, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			// Not in the mesh is also what an empty cache says: wait for the informers to
			// hold what was written, so that the checks below mean something.
			watchAuthority(t, "web."+ns+":80").await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{
				ep(ipPort(ns, 1, 8080), labels("namespace", ns, "service", "web")),
			}})
			testenv.Eventually(t, 10*time.Second, "the finished pod in the cache", func() error {
				if p, ok := suite.server.x.pod(types.NamespacedName{Namespace: ns, Name: "done"}); !ok || !finished(p) {
					return fmt.Errorf("pod %s/done not cached as finished", ns)
				}
				return nil
			})
			none := held{exists: false}
			return []check{
				{address: ipPort(ns, 9, 8080), want: none}, // a finished pod gave its IP back
				{authority: "example.com:443", want: none},
				{authority: "nothere." + ns + ".svc.cluster.local:80", want: none},
				{authority: "web." + ns + ".svc.cluster.local:81", want: none}, // no such port
				{authority: "web." + ns + ".svc.other.domain:80", want: none},
				{authority: "web-0.web." + ns + ".svc.cluster.local:80", want: none},
				{authority: "web." + ns + ".svc.clusterset.local:80", want: none},
				{address: "203.0.113.9:80", want: none},
				{address: svc.Spec.ClusterIP + ":81", want: none},
			}
		}},
		{"pod IP:port", func(t *testing.T, ns string) []check {
			createPod(t, pod(ns, "db-0", withNativeSidecar, withSA("db"), ownedBy("StatefulSet", "db")), ip(ns, 1))
			createPod(t, pod(ns, "legacy", ownedBy("ReplicaSet", "legacy-abc12")), ip(ns, 2))
			hostNet := pod(ns, "node-agent", withProxy)
			hostNet.Spec.HostNetwork = true
			createPod(t, hostNet, ip(ns, 3))
			return []check{
				{address: ipPort(ns, 1, 5432), want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					ep(ipPort(ns, 1, 5432), ofPod(ns, "db-0", "db", "statefulset/db", true)),
				}}},
				{address: ipPort(ns, 2, 8080), want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					ep(ipPort(ns, 2, 8080), ofPod(ns, "legacy", "default", "deployment/legacy", false)),
				}}},
				// The node's address, shared by every host-network pod on it: none of them.
				{address: ipPort(ns, 3, 8080), want: held{exists: false}},
			}
		}},
		{"no ready endpoint", func(t *testing.T, ns string) []check {
			createService(t, service(ns, "empty"))
			createService(t, service(ns, "draining"))
			createSlice(t, slice(ns, "draining", "draining-1", 8080, endpoint(ip(ns, 1), "", notReady)))
			createService(t, service(ns, "unready"))
			createSlice(t, slice(ns, "unready", "unready-1", 8080, endpoint(ip(ns, 2), "", func(e *discoveryv1.Endpoint) {
				e.Conditions.Ready = ptr.To(false)
			})))
			exists := held{exists: true}
			return []check{
				{authority: "empty." + ns + ".svc.cluster.local:80", want: exists},
				{authority: "draining." + ns + ".svc.cluster.local:80", want: exists},
				{authority: "unready." + ns + ".svc.cluster.local:80", want: exists},
			}
		}},
		{"meshed and unmeshed identities", func(t *testing.T, ns string) []check {
			createService(t, service(ns, "mixed"))
			createPod(t, pod(ns, "sidecar", withProxy, withSA("api")), "")
			createPod(t, pod(ns, "native", withNativeSidecar, withSA("api")), "")
			createPod(t, pod(ns, "annotated", withInjectAnnotation), "")
			createPod(t, pod(ns, "plain", withSA("api")), "")
			createSlice(t, slice(ns, "mixed", "mixed-1", 8080,
				endpoint(ip(ns, 1), "sidecar"), endpoint(ip(ns, 2), "native"), endpoint(ip(ns, 3), "annotated"),
				endpoint(ip(ns, 4), "plain"), endpoint(ip(ns, 5), "")))
			svc := labels("service", "mixed")
			return []check{{authority: "mixed." + ns + ".svc.cluster.local:80", want: held{exists: true, endpoints: []*destinationv1.Endpoint{
				ep(ipPort(ns, 1, 8080), svc, ofPod(ns, "sidecar", "api", "", true)),
				ep(ipPort(ns, 2, 8080), svc, ofPod(ns, "native", "api", "", true)),
				ep(ipPort(ns, 3, 8080), svc, ofPod(ns, "annotated", "default", "", true)),
				ep(ipPort(ns, 4, 8080), svc, ofPod(ns, "plain", "api", "", false)),
				// No pod behind it (a slice written by hand): no identity, no pod labels.
				ep(ipPort(ns, 5, 8080), svc, labels("namespace", ns)),
			}}}}
		}},
		{"named targetPort and a second port", func(t *testing.T, ns string) []check {
			createService(t, service(ns, "api", withPorts(
				corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("web")},
				corev1.ServicePort{Name: "admin", Port: 9000, TargetPort: intstr.FromInt32(9901)},
			)))
			// The endpointslice controller resolves "web" per pod: pods of two versions name
			// different numbers, so their endpoints are in two slices.
			for i, port := range []int32{8080, 9090} {
				s := slice(ns, "api", fmt.Sprintf("api-%d", i), port, endpoint(ip(ns, i+1), ""))
				s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To("admin"), Port: ptr.To[int32](9901)})
				createSlice(t, s)
			}
			svc := labels("service", "api", "namespace", ns)
			return []check{
				{authority: "api." + ns + ".svc.cluster.local:80", want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					ep(ipPort(ns, 1, 8080), svc), ep(ipPort(ns, 2, 9090), svc),
				}}},
				{authority: "api." + ns + ".svc.cluster.local:9000", want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					ep(ipPort(ns, 1, 9901), svc), ep(ipPort(ns, 2, 9901), svc),
				}}},
			}
		}},
		{"mirror through a gateway", func(t *testing.T, ns string) []check {
			mirror := func(name string) *corev1.Service {
				return service(ns, name, withAppProtocol("http"), func(s *corev1.Service) {
					s.Labels = map[string]string{mcv1alpha1.LabelMirroredService: "true", mcv1alpha1.LabelClusterName: "east"}
					s.Annotations = map[string]string{
						mcv1alpha1.AnnotationRemoteSvcFQName:       "web." + ns + ".svc.cluster.local",
						mcv1alpha1.AnnotationRemoteGatewayIdentity: "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/meshfed-gateway",
						mcv1alpha1.AnnotationRemoteIdentities:      "spiffe://east.meshfed.local/ns/" + ns + "/sa/web, spiffe://east.meshfed.local/ns/" + ns + "/sa/web-canary",
					}
				})
			}
			createService(t, mirror("web-east"))
			createSlice(t, slice(ns, "web-east", "web-east-gateway-ipv4", 4143, endpoint("198.18.200.1", ""), endpoint("198.18.200.2", "")))
			// A gateway found dead: the mirror's endpoints go not ready.
			createService(t, mirror("down-east"))
			createSlice(t, slice(ns, "down-east", "down-east-gateway-ipv4", 4143, endpoint("198.18.200.3", "", func(e *discoveryv1.Endpoint) {
				e.Conditions.Ready = ptr.To(false)
			})))
			gw := func(addr string) *destinationv1.Endpoint {
				return ep(addr, hint(destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP1),
					labels("namespace", ns, "service", "web-east", "cluster", "east"),
					func(e *destinationv1.Endpoint) {
						e.Gateway = &destinationv1.Gateway{
							Address:     socketAddress(netip.MustParseAddrPort(addr)),
							TlsIdentity: "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/meshfed-gateway",
							Authority:   "web." + ns + ".svc.cluster.local:80",
							Cluster:     "east",
							RemoteIdentities: []string{
								"spiffe://east.meshfed.local/ns/" + ns + "/sa/web",
								"spiffe://east.meshfed.local/ns/" + ns + "/sa/web-canary",
							},
						}
					})
			}
			return []check{
				{authority: "web-east." + ns + ".svc.cluster.local:80", want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					gw("198.18.200.1:4143"), gw("198.18.200.2:4143"),
				}}},
				{authority: "down-east." + ns + ".svc.cluster.local:80", want: held{exists: true}},
			}
		}},
		{"flat mirror and headless gateway parent", func(t *testing.T, ns string) []check {
			mirror := func(name, mode string, opts ...func(*corev1.Service)) *corev1.Service {
				return service(ns, name, append(opts, func(s *corev1.Service) {
					s.Labels = map[string]string{mcv1alpha1.LabelMirroredService: "true", mcv1alpha1.LabelClusterName: "east", mcv1alpha1.LabelMirrorMode: mode}
					s.Annotations = map[string]string{mcv1alpha1.AnnotationRemoteSvcFQName: "web." + ns + ".svc.cluster.local"}
				})...)
			}
			// Flat: the remote pods' own addresses, reached directly, not through a gateway.
			createService(t, mirror("flat-east", mcv1alpha1.MirrorModeRemoteDiscovery))
			flat := slice(ns, "flat-east", "flat-east-remote-ipv4", 8080, endpoint("198.18.100.7", ""), endpoint("198.18.100.8", ""))
			// The meshed remote pod's identity, as the link controller writes it; the other
			// pod is not meshed.
			flat.Annotations = map[string]string{mcv1alpha1.AnnotationEndpointIdentities: "198.18.100.7=spiffe://east.meshfed.local/ns/" + ns + "/sa/web"}
			createSlice(t, flat)
			// The headless parent of per-pod gateway mirrors: each pod is a Service of its own.
			createService(t, mirror("db-east", mcv1alpha1.MirrorModeGateway, func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }))
			createSlice(t, slice(ns, "db-east", "db-east-pods", 80, endpoint("198.18.120.9", "")))
			return []check{
				{authority: "flat-east." + ns + ".svc.cluster.local:80", want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					ep("198.18.100.7:8080", labels("namespace", ns, "service", "flat-east", "cluster", "east"), func(e *destinationv1.Endpoint) {
						e.TlsIdentity = "spiffe://east.meshfed.local/ns/" + ns + "/sa/web"
					}),
					ep("198.18.100.8:8080", labels("namespace", ns, "service", "flat-east", "cluster", "east")),
				}}},
				{authority: "db-east." + ns + ".svc.cluster.local:80", want: held{}},
			}
		}},
		{"protocol hints", func(t *testing.T, ns string) []check {
			var checks []check
			for i, c := range []struct {
				appProtocol string
				want        destinationv1.ProtocolHint
			}{
				{"", destinationv1.ProtocolHint_PROTOCOL_HINT_UNKNOWN},
				{"http", destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP1},
				{"h2c", destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP2},
				{"kubernetes.io/h2c", destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP2},
				{"http2", destinationv1.ProtocolHint_PROTOCOL_HINT_HTTP2},
				{"grpc", destinationv1.ProtocolHint_PROTOCOL_HINT_GRPC},
				{"tcp", destinationv1.ProtocolHint_PROTOCOL_HINT_OPAQUE},
				{"example.com/mysql", destinationv1.ProtocolHint_PROTOCOL_HINT_UNKNOWN},
			} {
				name := fmt.Sprintf("svc-%d", i)
				s := service(ns, name)
				if c.appProtocol != "" {
					s.Spec.Ports[0].AppProtocol = ptr.To(c.appProtocol)
				}
				createService(t, s)
				createSlice(t, slice(ns, name, name, 8080, endpoint(ip(ns, i+1), "")))
				checks = append(checks, check{authority: name + "." + ns + ".svc.cluster.local:80", want: held{exists: true, endpoints: []*destinationv1.Endpoint{
					ep(ipPort(ns, i+1, 8080), hint(c.want), labels("namespace", ns, "service", name)),
				}}})
			}
			return checks
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			for _, c := range tt.setup(t, ns) {
				name := c.authority + c.address
				// What was written may not have reached the informers yet: the view is awaited,
				// and the first update must be a whole state.
				var p *proxyView
				if c.authority != "" {
					p = watchAuthority(t, c.authority)
				} else {
					p = watchAddress(t, c.address)
				}
				t.Run(name, func(t *testing.T) {
					p.await(t, c.want)
					switch first := p.received()[0].GetUpdate().(type) {
					case *destinationv1.Update_Add, *destinationv1.Update_NoEndpoints:
					default:
						t.Errorf("first update is %T, want an Add or NoEndpoints", first)
					}
				})
			}
		})
	}
}

func TestInvalidArgument(t *testing.T) {
	tests := []struct {
		name string
		req  *destinationv1.GetDestination
		want string
	}{
		{"no target", &destinationv1.GetDestination{}, "target is empty"},
		{"no port", &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Authority{Authority: "web.shop.svc.cluster.local"}}, "send the port too"},
		{"port zero", &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Authority{Authority: "web.shop:0"}}, "port \"0\""},
		{"not a DNS name", &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Authority{Authority: "web_shop:80"}}, "not a DNS name"},
		{"three-byte IP", &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Address{Address: &destinationv1.SocketAddress{Ip: []byte{10, 0, 0}, Port: 80}}}, "ip is 3 bytes"},
		{"no address port", &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Address{Address: &destinationv1.SocketAddress{Ip: []byte{10, 0, 0, 1}}}}, "port 0 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := suite.client.Get(testContext(t), tt.req)
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Errorf("error %v, want InvalidArgument containing %q", err, tt.want)
			}
		})
	}
}

// A scale down sends one Remove, a scale up one Add, each of what changed only, to every
// subscriber, by name or by ClusterIP, within a second of the informer's event.
func TestScaleDownUp(t *testing.T) {
	ns := newNamespace(t)
	svc := createService(t, service(ns, "web"))
	var eps []discoveryv1.Endpoint
	var want []*destinationv1.Endpoint
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("web-%d", i)
		createPod(t, pod(ns, name, withProxy, withSA("web"), ownedBy("ReplicaSet", "web-7c9d")), "")
		eps = append(eps, endpoint(ip(ns, i), name))
		want = append(want, ep(ipPort(ns, i, 8080), labels("service", "web"), ofPod(ns, name, "web", "deployment/web", true)))
	}
	s := createSlice(t, slice(ns, "web", "web-1", 8080, eps[:3]...))
	byName := watchAuthority(t, "web."+ns+".svc.cluster.local:80")
	byIP := watchAddress(t, svc.Spec.ClusterIP+":80")
	proxies := []*proxyView{byName, byIP}
	for _, p := range proxies {
		p.await(t, held{exists: true, endpoints: want[:3]})
	}
	// Every subscriber follows one state.
	suite.server.x.mu.Lock()
	st := suite.server.x.svcs[types.NamespacedName{Namespace: ns, Name: "web"}]
	shared := st != nil && len(st.views) == 1 && len(st.views[80].subs) == 2
	suite.server.x.mu.Unlock()
	if !shared {
		t.Fatalf("the two subscribers do not share one view of web:80")
	}
	// The first answer may have come before the informers held the slice: count from here.
	base := map[*proxyView]int{byName: len(byName.received()), byIP: len(byIP.received())}
	before := latencies(t)

	s.Endpoints = eps[:2]
	s = updateSlice(t, s)
	for _, p := range proxies {
		p.await(t, held{exists: true, endpoints: want[:2]})
	}
	s.Endpoints = eps
	updateSlice(t, s)
	for _, p := range proxies {
		p.await(t, held{exists: true, endpoints: want})
		ups := p.received()[base[p]:]
		if len(ups) != 2 {
			t.Fatalf("%d updates, want 2 (a Remove, an Add): %v", len(ups), ups)
		}
		if r := ups[0].GetRemove(); r == nil || len(r.GetAddresses()) != 1 || !proto.Equal(r.GetAddresses()[0], want[2].GetAddress()) {
			t.Errorf("update %s, want a Remove of %s only", prototext.Format(ups[0]), ipPort(ns, 3, 8080))
		}
		if a := ups[1].GetAdd(); a == nil || len(a.GetEndpoints()) != 3 {
			t.Errorf("update %s, want an Add of the three new endpoints only", prototext.Format(ups[1]))
		}
	}
	// The server observes after it sends: the proxies may have it first.
	var after *dto.Histogram
	testenv.Eventually(t, 5*time.Second, "4 latencies observed (2 changes to 2 subscribers)", func() error {
		after = latencies(t)
		if n := after.GetSampleCount() - before.GetSampleCount(); n != 4 {
			return fmt.Errorf("%d observed", n)
		}
		return nil
	})
	var underSecond uint64
	for _, b := range after.GetBucket() {
		if b.GetUpperBound() <= 1 {
			underSecond = b.GetCumulativeCount()
		}
	}
	if over := after.GetSampleCount() - underSecond; over > 0 {
		t.Errorf("%d updates took more than a second from the informer event", over)
	}
}

func latencies(t *testing.T) *dto.Histogram {
	t.Helper()
	mfs, err := suite.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "meshfed_destination_update_latency_seconds" {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}

// A subscriber hears of a Service made after it asked, of its endpoints, of a pod meshed
// later, and of its deletion; one asking by ClusterIP too.
func TestLifecycle(t *testing.T) {
	ns := newNamespace(t)
	ctx := testContext(t)
	p := watchAuthority(t, "web."+ns+".svc.cluster.local:80")
	p.await(t, held{exists: false})

	svc := createService(t, service(ns, "web"))
	p.await(t, held{exists: true})
	byIP := watchAddress(t, svc.Spec.ClusterIP+":80")
	byIP.await(t, held{exists: true})

	// The slice comes before its pod's event: the endpoint waits for the pod, rather than go
	// out as plaintext.
	createSlice(t, slice(ns, "web", "web-1", 8080, endpoint(ip(ns, 1), "web-a")))
	createPod(t, pod(ns, "web-a"), "")
	unmeshed := ep(ipPort(ns, 1, 8080), labels("service", "web"), ofPod(ns, "web-a", "default", "", false))
	p.await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{unmeshed}})
	for _, u := range p.received() {
		for _, e := range u.GetAdd().GetEndpoints() {
			if e.GetLabels()[labelPod] == "" {
				t.Errorf("an endpoint went out before its pod was known: %s", prototext.Format(e))
			}
		}
	}

	// Meshed later: the same address, now with an identity, replaces it.
	po, err := suite.admin.CoreV1().Pods(ns).Get(ctx, "web-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withInjectAnnotation(po)
	if _, err := suite.admin.CoreV1().Pods(ns).Update(ctx, po, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	meshed := ep(ipPort(ns, 1, 8080), labels("service", "web"), ofPod(ns, "web-a", "default", "", true))
	p.await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{meshed}})
	byIP.await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{meshed}})

	if err := suite.admin.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p.await(t, held{exists: false})
	byIP.await(t, held{exists: false})
	last := p.received()[len(p.received())-1]
	if ne := last.GetNoEndpoints(); ne == nil || ne.GetExists() {
		t.Errorf("last update %s, want NoEndpoints{exists: false}", prototext.Format(last))
	}
}

// A pod IP:port follows the pod: gone when it is deleted, back when another takes its IP.
func TestPodAddressLifecycle(t *testing.T) {
	ns := newNamespace(t)
	ctx := testContext(t)
	p := watchAddress(t, ipPort(ns, 1, 8080))
	p.await(t, held{exists: false})
	createPod(t, pod(ns, "a", withProxy), ip(ns, 1))
	p.await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{ep(ipPort(ns, 1, 8080), ofPod(ns, "a", "default", "", true))}})
	if err := suite.admin.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	p.await(t, held{exists: false})
	createPod(t, pod(ns, "b"), ip(ns, 1))
	p.await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{ep(ipPort(ns, 1, 8080), ofPod(ns, "b", "default", "", false))}})
}

// The state of a Service lives as long as someone follows it.
func TestStateForgotten(t *testing.T) {
	ns := newNamespace(t)
	createService(t, service(ns, "web"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := suite.client.Get(ctx, &destinationv1.GetDestination{Target: &destinationv1.GetDestination_Authority{Authority: "web." + ns + ":80"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: "web"}
	followed := func() bool {
		suite.server.x.mu.Lock()
		defer suite.server.x.mu.Unlock()
		_, ok := suite.server.x.svcs[key]
		return ok
	}
	if !followed() {
		t.Fatal("no state for a followed Service")
	}
	cancel()
	testenv.Eventually(t, 5*time.Second, "the state to be forgotten", func() error {
		if followed() {
			return fmt.Errorf("%s still has a state", key)
		}
		return nil
	})
}

// eastMemberSlice is the slice the link controller writes for east's member "web" of the
// clusterset Service svc (federated or derived from a ServiceImport): at east's gateway.
func eastMemberSlice(ns, svc string) *discoveryv1.EndpointSlice {
	east := slice(ns, svc, svc+"-east-ipv4", 4143, endpoint("198.18.200.1", ""))
	east.Labels[mcv1alpha1.LabelMirroredService] = "true"
	east.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeFederated
	east.Labels[mcv1alpha1.LabelClusterName] = "east"
	east.Annotations = map[string]string{
		mcv1alpha1.AnnotationRemoteSvcFQName:       "web." + ns + ".svc.cluster.local",
		mcv1alpha1.AnnotationRemoteGatewayIdentity: "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/meshfed-gateway",
		mcv1alpha1.AnnotationRemotePorts:           "http=80/TCP",
	}
	return east
}

// viaEastGateway is what a proxy holds for svc's port 80 when east's member, through its
// gateway, is all there is.
func viaEastGateway(ns, svc string) held {
	return held{exists: true, endpoints: []*destinationv1.Endpoint{
		ep("198.18.200.1:4143", labels("namespace", ns, "service", svc, "cluster", "east"), func(e *destinationv1.Endpoint) {
			e.Gateway = &destinationv1.Gateway{
				Address:     socketAddress(netip.MustParseAddrPort("198.18.200.1:4143")),
				TlsIdentity: "spiffe://east.meshfed.local/ns/mesh-multicluster/sa/meshfed-gateway",
				Authority:   "web." + ns + ".svc.cluster.local:80",
				Cluster:     "east",
			}
		}),
	}}
}

// TestFederatedFailover: a federated Service sends its local member's endpoints while any is
// ready, the other clusters' gateways when none is, and the local ones again when they are back.
func TestFederatedFailover(t *testing.T) {
	ns := newNamespace(t)
	createService(t, service(ns, "web", func(s *corev1.Service) {
		s.Labels = map[string]string{mcv1alpha1.LabelFederated: mcv1alpha1.FederatedMember}
	}))
	createPod(t, pod(ns, "web-a", withProxy, withSA("web"), ownedBy("ReplicaSet", "web-5d8f9c")), "")
	local := createSlice(t, slice(ns, "web", "web-1", 8080, endpoint(ip(ns, 1), "web-a")))
	createService(t, service(ns, "web-federated", func(s *corev1.Service) {
		s.Labels = map[string]string{mcv1alpha1.LabelMirroredService: "true", mcv1alpha1.LabelMirrorMode: mcv1alpha1.MirrorModeFederated}
	}))
	createSlice(t, eastMemberSlice(ns, "web-federated"))

	localEndpoint := held{exists: true, endpoints: []*destinationv1.Endpoint{
		ep(ipPort(ns, 1, 8080), labels("service", "web"), ofPod(ns, "web-a", "web", "deployment/web", true)),
	}}
	viaEast := viaEastGateway(ns, "web-federated")
	p := watchAuthority(t, "web-federated."+ns+".svc.cluster.local:80")
	p.await(t, localEndpoint)

	local.Endpoints = []discoveryv1.Endpoint{endpoint(ip(ns, 1), "web-a", notReady)}
	local = updateSlice(t, local)
	p.await(t, viaEast)

	local.Endpoints = []discoveryv1.Endpoint{endpoint(ip(ns, 1), "web-a")}
	updateSlice(t, local)
	p.await(t, localEndpoint)
}

// TestClusterSetImport: the Service derived from a ServiceImport is routed as a federated one,
// by its clusterset.local name and by its ClusterSetIP: this cluster's own member (its slice
// of mode local) while any endpoint is ready, else the other clusters' through their gateways.
func TestClusterSetImport(t *testing.T) {
	ns := newNamespace(t)
	createPod(t, pod(ns, "web-a", withProxy, withSA("web"), ownedBy("ReplicaSet", "web-5d8f9c")), "")
	derived := createService(t, service(ns, "web-clusterset", func(s *corev1.Service) {
		s.Labels = map[string]string{mcv1alpha1.LabelMirroredService: "true", mcv1alpha1.LabelMirrorMode: mcv1alpha1.MirrorModeFederated, "multicluster.kubernetes.io/service-name": "web"}
	}))
	local := slice(ns, "web-clusterset", "web-clusterset-west-ipv4", 8080, endpoint(ip(ns, 1), "web-a"))
	local.Labels[mcv1alpha1.LabelMirroredService] = "true"
	local.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeLocal
	local.Annotations = map[string]string{mcv1alpha1.AnnotationRemotePorts: "http=80/TCP"}
	local = createSlice(t, local)
	createSlice(t, eastMemberSlice(ns, "web-clusterset"))

	localEndpoint := held{exists: true, endpoints: []*destinationv1.Endpoint{
		ep(ipPort(ns, 1, 8080), labels("service", "web-clusterset"), ofPod(ns, "web-a", "web", "deployment/web", true)),
	}}
	viaEast := viaEastGateway(ns, "web-clusterset")
	byName := watchAuthority(t, "web."+ns+".svc.clusterset.local:80")
	byIP := watchAddress(t, derived.Spec.ClusterIP+":80")
	byName.await(t, localEndpoint)
	byIP.await(t, localEndpoint)

	local.Endpoints = []discoveryv1.Endpoint{endpoint(ip(ns, 1), "web-a", notReady)}
	local = updateSlice(t, local)
	byName.await(t, viaEast)
	byIP.await(t, viaEast)

	local.Endpoints = []discoveryv1.Endpoint{endpoint(ip(ns, 1), "web-a")}
	updateSlice(t, local)
	byName.await(t, localEndpoint)
}

// TestClusterSetImportFlat: a flat member of a ServiceImport is its cluster's pods, called
// directly with the identity the slice gives each.
func TestClusterSetImportFlat(t *testing.T) {
	ns := newNamespace(t)
	createService(t, service(ns, "api-clusterset", func(s *corev1.Service) {
		s.Labels = map[string]string{mcv1alpha1.LabelMirroredService: "true", mcv1alpha1.LabelMirrorMode: mcv1alpha1.MirrorModeFederated}
	}))
	north := slice(ns, "api-clusterset", "api-clusterset-north-ipv4", 8080, endpoint("198.18.160.7", ""))
	north.Labels[mcv1alpha1.LabelMirroredService] = "true"
	north.Labels[mcv1alpha1.LabelMirrorMode] = mcv1alpha1.MirrorModeRemoteDiscovery
	north.Labels[mcv1alpha1.LabelClusterName] = "north"
	north.Annotations = map[string]string{
		mcv1alpha1.AnnotationRemotePorts:        "http=80/TCP",
		mcv1alpha1.AnnotationEndpointIdentities: "198.18.160.7=spiffe://north.meshfed.local/ns/" + ns + "/sa/api",
	}
	createSlice(t, north)
	p := watchAuthority(t, "api."+ns+".svc.clusterset.local:80")
	p.await(t, held{exists: true, endpoints: []*destinationv1.Endpoint{
		ep("198.18.160.7:8080", labels("namespace", ns, "service", "api-clusterset", "cluster", "north"), func(e *destinationv1.Endpoint) {
			e.TlsIdentity = "spiffe://north.meshfed.local/ns/" + ns + "/sa/api"
		}),
	}})
}
