package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The control plane's TLS: one CA per cluster made by the provider, as kubeadm does. Every
// component gets a certificate of its own with the identity the Node and RBAC authorizers
// expect of it.

const certLifetime = 365 * 24 * time.Hour

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

type certRequest struct {
	// file is the base name under pki/: <file>.crt and <file>.key.
	file   string
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

func newCA(clusterName string) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "meshfed-local " + clusterName + " CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert: cert, key: key}, err
}

func (ca keyPair) issue(r certRequest) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: r.cn, Organization: r.orgs},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     r.dns,
		IPAddresses:  r.ips,
	}
	if r.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if r.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return keyPair{}, fmt.Errorf("signing %s: %w", r.cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert: cert, key: key}, err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux.
	}
	return n
}

func (kp keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
}

func (kp keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(kp.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func (kp keyPair) write(dir, base string) error {
	keyPEM, err := kp.keyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, base+".crt"), kp.certPEM(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, base+".key"), keyPEM, 0o600)
}

// pki is what one cluster's components authenticate with.
type pki struct {
	ca    keyPair
	certs map[string]keyPair // by certRequest.file
}

// certRequests lists every certificate a cluster needs: their identities are those the
// apiserver's Node and RBAC authorizers and kubelet's webhook authorizer expect.
func certRequests(c cluster) []certRequest {
	nodeIP := net.IP(c.NodeIP.AsSlice())
	return []certRequest{
		{file: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{c.Name, "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{nodeIP, net.IPv4(127, 0, 0, 1), net.IP(c.APIServiceIP.AsSlice())}},
		{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
		{file: "admin", cn: "meshfed-admin", orgs: []string{"system:masters"}, client: true},
		{file: "controller-manager", cn: "system:kube-controller-manager", client: true},
		{file: "scheduler", cn: "system:kube-scheduler", client: true},
		{file: "kube-proxy", cn: "system:kube-proxy", client: true},
		{file: "kubelet-client", cn: "system:node:" + c.Name, orgs: []string{"system:nodes"}, client: true},
		{file: "kubelet", cn: "system:node:" + c.Name, server: true, dns: []string{c.Name}, ips: []net.IP{nodeIP}},
	}
}

// makePKI makes the CA, every certificate and the service-account signing key, and writes
// them under dir.
func makePKI(c cluster, dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := newCA(c.Name)
	if err != nil {
		return nil, fmt.Errorf("making the CA of %s: %w", c.Name, err)
	}
	if err := ca.write(dir, "ca"); err != nil {
		return nil, err
	}
	p := &pki{ca: ca, certs: map[string]keyPair{}}
	for _, r := range certRequests(c) {
		kp, err := ca.issue(r)
		if err != nil {
			return nil, err
		}
		if err := kp.write(dir, r.file); err != nil {
			return nil, err
		}
		p.certs[r.file] = kp
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, err
	}
	return p, nil
}
