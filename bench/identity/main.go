// Command identity measures the identity service's Certify against a real apiserver (envtest
// on the kube-apiserver this repo builds), over gRPC and TLS 1.3 on loopback, beside what it
// is made of: the TokenReview alone and the signature alone, so that the service's own share
// is visible.
//
//   - Certify, TokenReview and signing latency, p50 and p99, one request at a time;
//
//   - the service's own share: each Certify less its own TokenReview (timed inside the
//     service) and the median signature;
//
//   - a no-op RPC (gRPC health) on the same connection: the floor of any call;
//
//   - certificates per second with 8 workloads asking at once, beside TokenReviews per second
//     and signatures per second.
//
//     go run ./bench/identity [-n 500]
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/meshfed/meshfed/internal/benchstat"
	"github.com/meshfed/meshfed/internal/testenv"
	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

func main() {
	n := flag.Int("n", 500, "requests timed one at a time, for each measure")
	concurrency := flag.Int("concurrency", 8, "workloads asking at once, for the throughput")
	flag.Parse()
	if err := run(*n, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "bench/identity:", err)
		os.Exit(1)
	}
}

// timedReviewer remembers how long the last review of each token took, so that a Certify's
// own TokenReview can be taken out of its time.
type timedReviewer struct {
	identity.TokenReviewer
	mu   sync.Mutex
	last time.Duration
}

func (r *timedReviewer) Review(ctx context.Context, token string) (identity.Review, error) {
	start := time.Now()
	rv, err := r.TokenReviewer.Review(ctx, token)
	r.mu.Lock()
	r.last = time.Since(start)
	r.mu.Unlock()
	return rv, err
}

func run(n, concurrency int) error {
	// Interrupted or not, the apiserver and its etcd are stopped: the deferred Stop runs.
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
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		return err
	}
	token, err := workloadToken(ctx, kube)
	if err != nil {
		return err
	}

	now := time.Now()
	anchor, err := trust.NewAnchor("bench anchor", 24*time.Hour, now)
	if err != nil {
		return err
	}
	issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName("west"), 12*time.Hour, now)
	if err != nil {
		return err
	}
	key, err := issuer.KeyPEM()
	if err != nil {
		return err
	}
	issuers := identity.NewIssuerStore(nil)
	if _, err := issuers.Load(map[string][]byte{
		corev1.TLSCertKey: issuer.CertPEM(), corev1.TLSPrivateKeyKey: key, corev1.ServiceAccountRootCAKey: trust.EncodeCertificates(anchor.Cert),
	}, now); err != nil {
		return err
	}
	reviewer := &timedReviewer{TokenReviewer: identity.KubeTokenReviewer{Client: kube}}
	srv, err := identity.NewServer(identity.Options{TrustDomain: "west.meshfed.local", Issuers: issuers, Tokens: reviewer,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	self := trust.ID{TrustDomain: "west.meshfed.local", Namespace: "mesh-system", ServiceAccount: "meshfed-identity"}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(identity.NewServingCertificate(self, issuers, nil).TLSConfig())))
	identityv1.RegisterIdentityServer(g, srv)
	healthpb.RegisterHealthServer(g, health.NewServer())
	go g.Serve(lis)
	defer g.Stop()
	conn, err := identityclient.Dial(lis.Addr().String(), trust.NewBundle(anchor.Cert), self)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := identityv1.NewIdentityClient(conn)

	web := trust.ID{TrustDomain: "west.meshfed.local", Namespace: "shop", ServiceAccount: "web"}
	csrDER, err := csrFor(web)
	if err != nil {
		return err
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return err
	}
	req := &identityv1.CertifyRequest{Identity: web.String(), Token: token, CertificateSigningRequest: csrDER}
	for range 20 { // warm the connection, the apiserver's caches and the authenticator's
		if _, err := client.Certify(ctx, req); err != nil {
			return err
		}
	}

	var certify, reviews, signs, share, noop []time.Duration
	healthClient := healthpb.NewHealthClient(conn)
	for range n {
		start := time.Now()
		if _, err := healthClient.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			return err
		}
		noop = append(noop, time.Since(start))
	}
	for range n {
		start := time.Now()
		if _, err := issuer.SignLeaf(csr, web, identity.DefaultLeafTTL, time.Now()); err != nil {
			return err
		}
		signs = append(signs, time.Since(start))
	}
	for range n {
		start := time.Now()
		if _, err := (identity.KubeTokenReviewer{Client: kube}).Review(ctx, string(token)); err != nil {
			return err
		}
		reviews = append(reviews, time.Since(start))
	}
	signP50 := benchstat.Percentile(signs, 50)
	for range n {
		start := time.Now()
		if _, err := client.Certify(ctx, req); err != nil {
			return err
		}
		took := time.Since(start)
		certify = append(certify, took)
		reviewer.mu.Lock()
		share = append(share, took-reviewer.last-signP50)
		reviewer.mu.Unlock()
	}

	certPerSec, err := throughput(concurrency, 4*n, func() error { _, err := client.Certify(ctx, req); return err })
	if err != nil {
		return err
	}
	reviewPerSec, err := throughput(concurrency, 4*n, func() error {
		_, err := (identity.KubeTokenReviewer{Client: kube}).Review(ctx, string(token))
		return err
	})
	if err != nil {
		return err
	}
	signPerSec, err := throughput(concurrency, 4*n, func() error {
		_, err := issuer.SignLeaf(csr, web, identity.DefaultLeafTTL, time.Now())
		return err
	})
	if err != nil {
		return err
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "measure (%d one at a time; %d at once for /s)\tCertify (gRPC, TLS 1.3)\tTokenReview alone\tsignature alone\tservice's own share\tof it, a no-op RPC\tgoal\n", n, concurrency)
	for _, p := range []int{50, 90, 99} {
		goal := ""
		if p == 99 {
			goal = "share < 1 ms"
		}
		fmt.Fprintf(w, "p%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p, benchstat.Millis(benchstat.Percentile(certify, p)), benchstat.Millis(benchstat.Percentile(reviews, p)),
			benchstat.Millis(benchstat.Percentile(signs, p)), benchstat.Millis(benchstat.Percentile(share, p)), benchstat.Millis(benchstat.Percentile(noop, p)), goal)
	}
	fmt.Fprintf(w, "per second\t%.0f certificates\t%.0f reviews\t%.0f signatures\t\t\t\n", certPerSec, reviewPerSec, signPerSec)
	return w.Flush()
}

// throughput runs total calls of f from workers goroutines and returns calls per second.
func throughput(workers, total int, f func() error) (float64, error) {
	jobs := make(chan struct{}, total)
	for range total {
		jobs <- struct{}{}
	}
	close(jobs)
	errs := make(chan error, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := f(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// workloadToken is a projected token of shop/web for the identity service's audience, from
// the TokenRequest API, as the kubelet gets one.
func workloadToken(ctx context.Context, kube kubernetes.Interface) ([]byte, error) {
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := kube.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	tr, err := kube.CoreV1().ServiceAccounts("shop").CreateToken(ctx, "web", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{identity.Audience}, ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return []byte(tr.Status.Token), nil
}

func csrFor(id trust.ID) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return trust.NewCSR(key, id)
}
