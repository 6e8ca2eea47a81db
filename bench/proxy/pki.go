package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
	"github.com/meshfed/meshfed/pkg/trust"
)

const trustDomain = "bench.meshfed.local"

// The identities of the two sides: the same leaves serve the meshfed pair and the HAProxy
// pair.
var (
	clientID = trust.ID{TrustDomain: trustDomain, Namespace: "bench", ServiceAccount: "client"}
	serverID = trust.ID{TrustDomain: trustDomain, Namespace: "bench", ServiceAccount: "server"}
)

// pki is where the bench wrote the anchor and each side's leaf.
type pki struct {
	anchor         string // the anchor's certificate, PEM: the trust bundle, HAProxy's ca-file
	client, server leafFiles
}

// leafFiles are one side's leaf, in the two shapes the proxies read.
type leafFiles struct {
	id       trust.ID
	cert     string // the leaf, then the issuer above it
	key      string // its key, PKCS#8
	combined string // cert then key in one file, as HAProxy's crt wants it
}

// writePKI makes an anchor, an issuer under it and a leaf for each side, as the identity
// service would sign them, and writes them into dir.
func writePKI(dir string) (*pki, error) {
	now := time.Now()
	anchor, err := trust.NewAnchor("bench/proxy anchor", 24*time.Hour, now)
	if err != nil {
		return nil, err
	}
	issuer, err := trust.NewIssuer(anchor, trust.IssuerCommonName("bench"), 12*time.Hour, now)
	if err != nil {
		return nil, err
	}
	out := &pki{anchor: filepath.Join(dir, "anchor.pem")}
	if err := os.WriteFile(out.anchor, trust.EncodeCertificates(anchor.Cert), 0o600); err != nil {
		return nil, fmt.Errorf("writing the anchor: %w", err)
	}
	if out.client, err = writeLeaf(dir, issuer, clientID, "client", now); err != nil {
		return nil, err
	}
	if out.server, err = writeLeaf(dir, issuer, serverID, "server", now); err != nil {
		return nil, err
	}
	return out, nil
}

func writeLeaf(dir string, issuer *trust.CA, id trust.ID, name string, now time.Time) (leafFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return leafFiles{}, fmt.Errorf("%s's key: %w", name, err)
	}
	der, err := trust.NewCSR(key, id)
	if err != nil {
		return leafFiles{}, fmt.Errorf("%s's CSR: %w", name, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return leafFiles{}, fmt.Errorf("%s's CSR: %w", name, err)
	}
	leaf, err := issuer.SignLeaf(csr, id, 12*time.Hour, now)
	if err != nil {
		return leafFiles{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return leafFiles{}, fmt.Errorf("%s's key: %w", name, err)
	}
	certPEM := trust.EncodeCertificates(leaf, issuer.Cert)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	f := leafFiles{
		id:       id,
		cert:     filepath.Join(dir, name+".crt"),
		key:      filepath.Join(dir, name+".key"),
		combined: filepath.Join(dir, name+".pem"),
	}
	for path, data := range map[string][]byte{f.cert: certPEM, f.key: keyPEM, f.combined: append(certPEM, keyPEM...)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return leafFiles{}, fmt.Errorf("writing %s's leaf: %w", name, err)
		}
	}
	return f, nil
}

// readLeaf reads back what writeLeaf wrote, as the identity service would have returned it.
func readLeaf(certFile, keyFile string) (*identityclient.Leaf, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	chain, err := trust.ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New(keyFile + ": not an ECDSA key")
	}
	return &identityclient.Leaf{Key: key, Certificate: chain[0], Intermediates: chain[1:]}, nil
}
