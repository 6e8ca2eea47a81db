// Command destination measures the destination service as it runs in a cluster: the
// controller binary (`controller destination`) as its own process against a real apiserver
// (envtest on the kube-apiserver this repo builds and Debian's etcd), with TLS 1.3 and
// client certificates, its leaf from an identity service run here (as in a cluster it asks
// the identity service, with its projected token) and the trust bundle from a file (as the
// kubelet mounts the ConfigMap):
//
//   - one Service with 1,000 endpoints (1,000 meshed pods, 10 EndpointSlices of 100), watched
//     by 500 subscribers, each on a connection of its own as 500 proxies would be;
//
//   - one change at a time (an endpoint removed from its slice, then added back), timed from
//     the apiserver write until all 500 subscribers hold it (and until the first does), p50
//     and p99 over the changes, beside the floor: how long the same apiserver takes to tell a
//     plain watch of the change;
//
//   - 500 subscribers joining at once, until all hold the 1,000 endpoints;
//
//   - the controller's RSS (VmRSS of its process) and Go heap in use (its /metrics) while
//     serving them.
//
//     go run ./bench/destination [-endpoints 1000] [-subscribers 500] [-changes 20] [-heap-profile FILE]
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshfed/meshfed/internal/benchstat"
	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/destination"
	"github.com/meshfed/meshfed/pkg/identity"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

const (
	trustDomain = "west.meshfed.local"
	namespace   = "bench"
	perSlice    = 100 // what the endpointslice controller puts in one slice at most
)

func main() {
	endpoints := flag.Int("endpoints", 1000, "endpoints of the one Service")
	subscribers := flag.Int("subscribers", 500, "subscribers, each on its own connection")
	changes := flag.Int("changes", 20, "changes timed one after the other, half removals, half additions")
	heapProfile := flag.String("heap-profile", "", "write the controller's heap profile (after a GC) to this file, for go tool pprof")
	flag.Parse()
	if err := run(*endpoints, *subscribers, *changes, *heapProfile); err != nil {
		fmt.Fprintln(os.Stderr, "bench/destination:", err)
		os.Exit(1)
	}
}

func run(endpoints, subscribers, changes int, heapProfile string) error {
	// Interrupted or not, the apiserver, its etcd and the controller are stopped: the deferred
	// stops below run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	assets, err := testenv.Assets(ctx)
	if err != nil {
		return err
	}
	cluster, err := testenv.StartCluster(assets, clientgoscheme.Scheme)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	cfg := *cluster.Config
	cfg.QPS, cfg.Burst = 500, 1000
	kube, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return err
	}
	anchor, issuer, err := makeIssuer(ctx, kube)
	if err != nil {
		return err
	}
	idAddr, stopIdentity, err := serveIdentity(kube, anchor, issuer)
	if err != nil {
		return err
	}
	defer stopIdentity()
	slices, err := makeService(ctx, kube, endpoints)
	if err != nil {
		return err
	}

	ctrl, err := startController(ctx, cluster, kube, anchor, idAddr)
	if err != nil {
		return err
	}
	defer ctrl.stop()
	if err := ctrl.awaitReady(ctx); err != nil {
		return err
	}

	// The proxies: one leaf for all (the service checks it, not who holds it), one
	// connection each.
	client, err := clientTLS(anchor, issuer)
	if err != nil {
		return err
	}
	subs := make([]*subscriber, subscribers)
	joinStart := time.Now()
	for i := range subs {
		if subs[i], err = subscribe(ctx, ctrl.grpcAddr, client); err != nil {
			return err
		}
		defer subs[i].conn.Close()
	}
	if err := awaitAll(ctx, subs, func(s *subscriber) bool { return s.size() == endpoints }); err != nil {
		return fmt.Errorf("%d subscribers joining: %w", subscribers, err)
	}
	joinTook := time.Since(joinStart)

	floor, err := watchSlices(ctx, kube)
	if err != nil {
		return err
	}
	var all, first, floors []time.Duration
	for c := range changes {
		// Endpoint e leaves, then comes back: every change is one endpoint of one slice.
		e := (c / 2 * 37) % endpoints
		s := slices[e/perSlice]
		addr := netip.AddrPortFrom(podIP(e), 8080)
		present := c%2 == 1
		if present {
			s.Endpoints = endpointsOf(e/perSlice*perSlice, min(perSlice, endpoints-e/perSlice*perSlice))
		} else {
			s.Endpoints = withoutEndpoint(s.Endpoints, podIP(e).String())
		}
		want := func(sub *subscriber) bool { return sub.has(addr) == present }
		start := time.Now()
		updated, err := kube.DiscoveryV1().EndpointSlices(namespace).Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		slices[e/perSlice] = updated
		if err := awaitAll(ctx, subs, want); err != nil {
			return fmt.Errorf("change %d: %w", c, err)
		}
		seen, err := floor.await(ctx, updated.ResourceVersion)
		if err != nil {
			return err
		}
		var firstAt, lastAt time.Time
		for _, sub := range subs {
			at := sub.when(want)
			if firstAt.IsZero() || at.Before(firstAt) {
				firstAt = at
			}
			if at.After(lastAt) {
				lastAt = at
			}
		}
		all = append(all, lastAt.Sub(start))
		first = append(first, firstAt.Sub(start))
		floors = append(floors, seen.Sub(start))
	}
	if heapProfile != "" {
		if err := ctrl.saveHeapProfile(ctx, heapProfile); err != nil {
			return err
		}
	}
	rss, err := benchstat.RSS(ctrl.cmd.Process.Pid)
	if err != nil {
		return err
	}
	heap, err := ctrl.metric(ctx, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return err
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "measure (%d endpoints, %d subscribers, %d changes)\tall subscribers have it\tfirst subscriber has it\tfloor: a plain watch sees it\tgoal\n", endpoints, subscribers, changes)
	for _, p := range []int{50, 99} {
		goal := ""
		if p == 99 {
			goal = "< 1 s"
		}
		fmt.Fprintf(w, "one change, p%d\t%s\t%s\t%s\t%s\n", p, benchstat.Millis(benchstat.Percentile(all, p)),
			benchstat.Millis(benchstat.Percentile(first, p)), benchstat.Millis(benchstat.Percentile(floors, p)), goal)
	}
	fmt.Fprintf(w, "%d subscribers join at once, until all hold %d endpoints\t%s\t\t\t\n", subscribers, endpoints, joinTook.Round(time.Millisecond))
	fmt.Fprintf(w, "controller RSS (VmRSS) / Go heap in use\t%d MiB / %d MiB\t\t\t\n", rss>>20, uint64(heap)>>20)
	return w.Flush()
}

// makeIssuer makes the namespaces, the anchor and the cluster's issuer, and returns the
// anchor and the issuer.
func makeIssuer(ctx context.Context, kube kubernetes.Interface) (*trust.CA, *trust.CA, error) {
	now := time.Now()
	anchor, err := trust.NewAnchor("bench anchor", 24*time.Hour, now)
	if err != nil {
		return nil, nil, err
	}
	issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName("west"), 12*time.Hour, now)
	if err != nil {
		return nil, nil, err
	}
	for _, ns := range []string{trust.Namespace, namespace} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return anchor, issuer, nil
}

// serveIdentity runs the identity service on loopback, signing with issuer and checking
// tokens with the apiserver, as the destination service finds it in a cluster. It returns
// its address and what stops it.
func serveIdentity(kube kubernetes.Interface, anchor, issuer *trust.CA) (string, func(), error) {
	key, err := issuer.KeyPEM()
	if err != nil {
		return "", nil, err
	}
	issuers := identity.NewIssuerStore(nil)
	if _, err := issuers.Load(map[string][]byte{
		corev1.TLSCertKey: issuer.CertPEM(), corev1.TLSPrivateKeyKey: key, corev1.ServiceAccountRootCAKey: trust.EncodeCertificates(anchor.Cert),
	}, time.Now()); err != nil {
		return "", nil, err
	}
	srv, err := identity.NewServer(identity.Options{TrustDomain: trustDomain, Issuers: issuers,
		Tokens: identity.KubeTokenReviewer{Client: kube}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return "", nil, err
	}
	self := trust.ID{TrustDomain: trustDomain, Namespace: trust.Namespace, ServiceAccount: "meshfed-identity"}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(identity.NewServingCertificate(self, issuers, nil).TLSConfig())))
	identityv1.RegisterIdentityServer(g, srv)
	go g.Serve(lis)
	return lis.Addr().String(), g.Stop, nil
}

// destinationToken is a token of the destination service's ServiceAccount for the identity
// service's audience, as the kubelet projects it into the pod.
func destinationToken(ctx context.Context, kube kubernetes.Interface) ([]byte, error) {
	if _, err := kube.CoreV1().ServiceAccounts(trust.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: destination.ServiceAccount}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	tr, err := kube.CoreV1().ServiceAccounts(trust.Namespace).CreateToken(ctx, destination.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{identityclient.Audience}, ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return []byte(tr.Status.Token), nil
}

func podIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i / 200), byte(i%200 + 1)})
}

func podName(i int) string { return fmt.Sprintf("web-5d8f9c-%04d", i) }

// makeService makes the Service, its meshed pods and their EndpointSlices, as a Deployment
// and the endpointslice controller would.
func makeService(ctx context.Context, kube kubernetes.Interface, n int) ([]*discoveryv1.EndpointSlice, error) {
	if _, err := kube.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), AppProtocol: ptr.To("http")},
		}},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := kube.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: podName(i), Labels: map[string]string{"app": "web", "pod-template-hash": "5d8f9c"},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f9c", UID: "0", Controller: ptr.To(true)}}},
				Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{
					{Name: "app", Image: "app"}, {Name: destination.ProxyContainerName, Image: "proxy"},
				}},
			}, metav1.CreateOptions{})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	var out []*discoveryv1.EndpointSlice
	for start := 0; start < n; start += perSlice {
		s, err := kube.DiscoveryV1().EndpointSlices(namespace).Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%02d", start/perSlice), Labels: map[string]string{
				discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "bench",
			}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080)}},
			Endpoints:   endpointsOf(start, min(perSlice, n-start)),
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func endpointsOf(start, n int) []discoveryv1.Endpoint {
	out := make([]discoveryv1.Endpoint, 0, n)
	for i := start; i < start+n; i++ {
		out = append(out, discoveryv1.Endpoint{
			Addresses:  []string{podIP(i).String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: podName(i)},
		})
	}
	return out
}

func withoutEndpoint(eps []discoveryv1.Endpoint, addr string) []discoveryv1.Endpoint {
	out := make([]discoveryv1.Endpoint, 0, len(eps))
	for _, e := range eps {
		if e.Addresses[0] != addr {
			out = append(out, e)
		}
	}
	return out
}

// controller is `controller destination` running as its own process.
type controller struct {
	cmd                 *exec.Cmd
	dir                 string
	grpcAddr, adminAddr string
}

func startController(ctx context.Context, cluster *testenv.Cluster, kube kubernetes.Interface, anchor *trust.CA, identityAddr string) (*controller, error) {
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		return nil, err
	}
	bin, err := b.Repo(ctx, "./cmd/controller")
	if err != nil {
		return nil, err
	}
	kubeconfig, err := cluster.Kubeconfig(envtest.User{Name: "destination", Groups: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-destination-")
	if err != nil {
		return nil, err
	}
	c := &controller{dir: dir}
	if c.grpcAddr, err = freeAddr(); err != nil {
		return c, err
	}
	if c.adminAddr, err = freeAddr(); err != nil {
		return c, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return c, err
	}
	token, err := destinationToken(ctx, kube)
	if err != nil {
		return c, err
	}
	tokenPath, bundlePath := filepath.Join(dir, "token"), filepath.Join(dir, trust.BundleKey)
	if err := os.WriteFile(tokenPath, token, 0o600); err != nil {
		return c, err
	}
	if err := os.WriteFile(bundlePath, anchor.CertPEM(), 0o644); err != nil {
		return c, err
	}
	c.cmd = exec.CommandContext(ctx, filepath.Join(bin, "controller"), "destination", "--kubeconfig", path,
		"--trust-domain", trustDomain, "--addr", c.grpcAddr, "--admin-addr", c.adminAddr, "--pprof",
		"--identity-addr", identityAddr, "--token", tokenPath, "--bundle", bundlePath)
	// The controller must not outlive the bench, however it ends.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(filepath.Join(dir, "destination.log"))
	if err != nil {
		return c, err
	}
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	return c, c.cmd.Start()
}

func (c *controller) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
	os.RemoveAll(c.dir)
}

func (c *controller) awaitReady(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + c.adminAddr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "destination.log"))
	return fmt.Errorf("the controller was not ready within a minute; its log:\n%s", log)
}

// metric reads one unlabelled value from the controller's /metrics.
func (c *controller) metric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.adminAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in the controller's metrics", name)
}

func (c *controller) saveHeapProfile(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.adminAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// clientTLS is the proxies' config: a leaf from issuer, the destination service checked
// against anchor.
func clientTLS(anchor, issuer *trust.CA) (*tls.Config, error) {
	id := trust.ID{TrustDomain: trustDomain, Namespace: "shop", ServiceAccount: "client"}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := trust.NewCSR(key, id)
	if err != nil {
		return nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, err
	}
	leaf, err := issuer.SignLeaf(csr, id, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	cfg := identityclient.ClientTLSConfig(trust.NewBundle(anchor.Cert), destination.ServiceID(trustDomain, trust.Namespace), nil)
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{leaf.Raw, issuer.Cert.Raw}, PrivateKey: key, Leaf: leaf}}
	return cfg, nil
}

// subscriber is one proxy's stream: the endpoints it holds, and when each address last came
// or went.
type subscriber struct {
	conn    *grpc.ClientConn
	mu      sync.Mutex
	eps     map[netip.AddrPort]struct{}
	changed time.Time
	err     error
}

func subscribe(ctx context.Context, addr string, cfg *tls.Config) (*subscriber, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, err
	}
	stream, err := destinationv1.NewDestinationClient(conn).Get(ctx, &destinationv1.GetDestination{
		Target:  &destinationv1.GetDestination_Authority{Authority: "web." + namespace + ".svc.cluster.local:80"},
		Context: &destinationv1.ProxyContext{Namespace: "shop", Identity: "spiffe://" + trustDomain + "/ns/shop/sa/client"},
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &subscriber{conn: conn, eps: map[netip.AddrPort]struct{}{}}
	go func() {
		for {
			u, err := stream.Recv()
			now := time.Now()
			s.mu.Lock()
			if err != nil {
				s.err = err
				s.mu.Unlock()
				return
			}
			switch u := u.GetUpdate().(type) {
			case *destinationv1.Update_Add:
				for _, e := range u.Add.GetEndpoints() {
					s.eps[addrPort(e.GetAddress())] = struct{}{}
				}
			case *destinationv1.Update_Remove:
				for _, a := range u.Remove.GetAddresses() {
					delete(s.eps, addrPort(a))
				}
			case *destinationv1.Update_NoEndpoints:
				clear(s.eps)
			}
			s.changed = now
			s.mu.Unlock()
		}
	}()
	return s, nil
}

func addrPort(a *destinationv1.SocketAddress) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.GetIp())
	return netip.AddrPortFrom(ip, uint16(a.GetPort()))
}

func (s *subscriber) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.eps)
}

func (s *subscriber) has(a netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.eps[a]
	return ok
}

// when returns when the subscriber last changed, if it satisfies want: the moment it got
// there, as one change at a time is made.
func (s *subscriber) when(want func(*subscriber) bool) time.Time {
	if !want(s) {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// awaitAll polls until every subscriber satisfies want. Arrival times are taken by the
// subscribers as updates come, so the polling only bounds when the bench moves on.
func awaitAll(ctx context.Context, subs []*subscriber, want func(*subscriber) bool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		missing := 0
		for _, s := range subs {
			s.mu.Lock()
			err := s.err
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("a stream ended: %w", err)
			}
			if !want(s) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscribers still without the change after a minute", missing, len(subs))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sliceWatch is a plain watch of the EndpointSlices: when the apiserver told it of each
// resourceVersion.
type sliceWatch struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func watchSlices(ctx context.Context, kube kubernetes.Interface) (*sliceWatch, error) {
	w := &sliceWatch{seen: map[string]time.Time{}}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace))
	inf := factory.Discovery().V1().EndpointSlices().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
			w.mu.Lock()
			w.seen[s.ResourceVersion] = time.Now()
			w.mu.Unlock()
		}
	}}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("cache of %v did not sync", typ)
		}
	}
	return w, nil
}

func (w *sliceWatch) await(ctx context.Context, rv string) (time.Time, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		t, ok := w.seen[rv]
		w.mu.Unlock()
		if ok {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Time{}, errors.New("the plain watch never saw resourceVersion " + rv)
}
