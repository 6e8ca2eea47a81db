package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// servingCert makes a self-signed serving certificate for name, valid from notBefore for a
// day, as a Secret's data.
func servingCert(t *testing.T, name string, notBefore time.Time) (map[string][]byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, cert
}

// The listener speaks TLS 1.3 only, with the certificate loaded last; a bad one is not taken.
func TestCertStoreServesTLS13AndReloads(t *testing.T) {
	store := &CertStore{}
	now := time.Now()
	first, firstCert := servingCert(t, "meshfed-injector.mesh-system.svc", now.Add(-time.Hour))
	if _, err := store.Load(first, now); err != nil {
		t.Fatal(err)
	}
	// Not httptest's StartTLS: it would add a certificate of its own, which Go serves to
	// clients that send no SNI instead of asking GetCertificate.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: time.Second}
	go srv.Serve(tls.NewListener(lis, store.TLSConfig()))
	defer srv.Close()
	url := "https://" + lis.Addr().String()

	// served returns the certificate the server presents to a client of TLS versions min-max.
	served := func(min, max uint16) (*x509.Certificate, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: min, MaxVersion: max}}}
		r, err := c.Get(url)
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		if r.TLS.Version != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", r.TLS.Version)
		}
		return r.TLS.PeerCertificates[0], nil
	}
	if got, err := served(tls.VersionTLS13, tls.VersionTLS13); err != nil || !got.Equal(firstCert) {
		t.Fatalf("first certificate: %v", err)
	}
	if _, err := served(tls.VersionTLS12, tls.VersionTLS12); err == nil {
		t.Error("a TLS 1.2 client was served")
	}

	second, secondCert := servingCert(t, "meshfed-injector.mesh-system.svc", now.Add(-time.Minute))
	if _, err := store.Load(second, now); err != nil {
		t.Fatal(err)
	}
	if got, err := served(tls.VersionTLS13, tls.VersionTLS13); err != nil || !got.Equal(secondCert) {
		t.Errorf("after the reload, not the second certificate: %v", err)
	}

	expired, _ := servingCert(t, "x", now.Add(-48*time.Hour))
	for name, bad := range map[string]map[string][]byte{
		"empty":             {},
		"key of another":    {"tls.crt": first["tls.crt"], "tls.key": second["tls.key"]},
		"expired":           expired,
		"not a certificate": {"tls.crt": []byte("x"), "tls.key": []byte("y")},
	} {
		if _, err := store.Load(bad, now); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
	if got, err := served(tls.VersionTLS13, tls.VersionTLS13); err != nil || !got.Equal(secondCert) {
		t.Errorf("after bad Secrets, not the last good certificate: %v", err)
	}
}

func TestCertStoreWithNoCertificate(t *testing.T) {
	store := &CertStore{}
	if store.Loaded() {
		t.Error("loaded before any Load")
	}
	if _, err := store.TLSConfig().GetCertificate(&tls.ClientHelloInfo{}); err == nil || !strings.Contains(err.Error(), "no serving certificate loaded yet") {
		t.Errorf("error %v", err)
	}
}

func TestNativeSidecarsSupported(t *testing.T) {
	tests := []struct {
		major, minor string
		want         bool
		err          bool
	}{
		{"1", "35", true, false},
		{"1", "29", true, false},
		{"1", "29+", true, false},
		{"1", "28", false, false},
		{"2", "0", true, false},
		{"", "29", false, true},
		{"1", "x", false, true},
	}
	for _, tt := range tests {
		got, err := NativeSidecarsSupported(&version.Info{Major: tt.major, Minor: tt.minor, GitVersion: "v" + tt.major + "." + tt.minor})
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("%s.%s: %v %v", tt.major, tt.minor, got, err)
		}
	}
}

// A namespace the cache has not seen yet is asked of the apiserver.
func TestNamespacesFallBackToTheAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := kubefake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{"meshfed.io/inject": "enabled"}}})
	ns, synced := NewNamespaces(ctx, client)
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if !cache.WaitForCacheSync(wait.Done(), synced) {
		t.Fatal("the namespace informer did not sync")
	}
	if a, err := ns.Annotations(ctx, "shop"); err != nil || a["meshfed.io/inject"] != "enabled" {
		t.Errorf("shop: %v %v", a, err)
	}
	// Made behind the informer's back: a cache that has not seen it, an apiserver that has.
	direct := &Namespaces{Lister: ns.Lister, Client: kubefake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "new", Annotations: map[string]string{"a": "b"}}})}
	if a, err := direct.Annotations(ctx, "new"); err != nil || a["a"] != "b" {
		t.Errorf("new: %v %v", a, err)
	}
	if _, err := direct.Annotations(ctx, "none"); err == nil {
		t.Error("a namespace that does not exist was found")
	}
}

// A namespace the cache holds bare, annotated since behind its back, is injected.
func TestNamespacesAnnotatedSinceTheCacheSawThem(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bare := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	ns, synced := NewNamespaces(ctx, kubefake.NewClientset(bare))
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if !cache.WaitForCacheSync(wait.Done(), synced) {
		t.Fatal("the namespace informer did not sync")
	}
	annotated := bare.DeepCopy()
	annotated.Annotations = map[string]string{"meshfed.io/inject": "enabled"}
	direct := &Namespaces{Lister: ns.Lister, Client: kubefake.NewClientset(annotated)}
	if a, err := direct.Annotations(ctx, "shop"); err != nil || a["meshfed.io/inject"] != "enabled" {
		t.Errorf("shop, annotated since the cache saw it: %v %v", a, err)
	}
}
