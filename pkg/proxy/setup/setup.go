package setup

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	identityv1 "github.com/meshfed/meshfed/pkg/apis/identity/v1"
	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/proxy/certs"
	"github.com/meshfed/meshfed/pkg/trust"
)

// BundleEnv, when set, holds the trust bundle (PEM) instead of the bundle file.
const BundleEnv = "MESHFED_TRUST_BUNDLE"

// Bundle reads the trust bundle to start from: the cache, when one is named and holds a
// bundle (the proxy restarted after the identity service streamed it one); else BundleEnv
// when set; else file.
func Bundle(file, cache string) (*trust.Bundle, error) {
	if cache != "" {
		if pemBytes, err := os.ReadFile(cache); err == nil {
			if b, err := trust.ParseBundle(pemBytes); err == nil {
				return b, nil
			}
		}
	}
	pemBytes := []byte(os.Getenv(BundleEnv))
	if len(pemBytes) == 0 {
		var err error
		if pemBytes, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("--bundle: %w", err)
		}
	}
	bundle, err := trust.ParseBundle(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("the trust bundle: %w", err)
	}
	return bundle, nil
}

// Logger is a JSON logger to w at level: debug, info, warn or error.
func Logger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Registry is a metrics registry with the Go runtime's and the process's collectors.
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Certs returns a manager of self's leaf, certified by the identity service at identityAddr
// with the projected token in tokenFile, read again at each renewal (the kubelet rotates it).
// Run the manager to get the first leaf and follow the identity service's trust stream;
// close the returned closer when done.
//
// cache, if not empty, is a file where each bundle streamed is kept for Bundle to start from
// after a restart.
func Certs(self trust.ID, bundle *trust.Bundle, identityAddr, tokenFile, cache string, log *slog.Logger) (*certs.Manager, io.Closer, error) {
	idServer := trust.ID{TrustDomain: self.TrustDomain, Namespace: "mesh-system", ServiceAccount: "meshfed-identity"}
	var manager *certs.Manager
	// The identity service is checked against the bundle current at each handshake: after an
	// anchor rotation the one the proxy started with may no longer hold its anchor.
	idConn, err := identityclient.DialFunc(identityAddr, func() *trust.Bundle { return manager.Bundle() }, idServer)
	if err != nil {
		return nil, nil, err
	}
	idClient := identityv1.NewIdentityClient(idConn)
	manager = certs.NewManager(self, bundle, certs.CertifierFunc(identityclient.RequestWithTokenFile(idClient, self, tokenFile, 10*time.Second)), log)
	var keep func(*identityclient.Trust)
	if cache != "" {
		keep = func(t *identityclient.Trust) {
			if err := writeAtomic(cache, t.Bundle.PEM()); err != nil {
				log.Warn("trust bundle not kept for a restart", "file", cache, "error", err)
			}
		}
	}
	manager.TrustFrom(idClient, keep)
	return manager, idConn, nil
}

// Destination dials the destination service at addr over mTLS with manager's leaf; the
// service must prove its identity in manager's trust domain.
func Destination(addr string, manager *certs.Manager) (destinationv1.DestinationClient, io.Closer, error) {
	server := trust.ID{TrustDomain: manager.ID().TrustDomain, Namespace: "mesh-system", ServiceAccount: "meshfed-destination"}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(manager.ClientConfig(server, "h2"))))
	if err != nil {
		return nil, nil, err
	}
	return destinationv1.NewDestinationClient(conn), conn, nil
}

// DefaultCores is how many cores a proxy runs Go code on unless told otherwise: one, as
// Linkerd's proxy runs one worker by default. A sidecar shares its pod's (and node's) CPUs
// with the app, and with more than one P every hand-off between the goroutines of a request
// wakes another thread: on a loaded node that costs more than the parallelism brings.
const DefaultCores = 1

// Cores sets how many cores the proxy runs Go code on (GOMAXPROCS): n when it is positive,
// else the Go runtime's own choice (the CPUs, or the container's CPU limit).
func Cores(n int) error {
	if n < 0 {
		return fmt.Errorf("--cores %d: want 0 (the runtime's choice) or more", n)
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return nil
}

// writeAtomic replaces path with data whole: a restart never reads half a bundle.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bundle-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
