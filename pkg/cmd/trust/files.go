package trustcmd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/meshfed/meshfed/pkg/trust"
)

// The files `mesh trust anchor` writes in its --out folder, and the other commands read.
const (
	anchorCertFile = "ca.crt"
	anchorKeyFile  = "ca.key"
)

// readAnchorCert reads dir/ca.crt, which must hold one anchor, for the flag that named dir.
// It reads no key: checking and bundling need the certificate only.
func readAnchorCert(flag, dir string) (*x509.Certificate, []byte, error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("%s is required: give the folder 'mesh trust anchor --out' wrote, holding %s and %s", flag, anchorCertFile, anchorKeyFile)
	}
	path := filepath.Join(dir, anchorCertFile)
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s %s: there is no %s: give the folder 'mesh trust anchor --out' wrote, or make an anchor there with 'mesh trust anchor --out %s'", flag, dir, anchorCertFile, dir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	b, err := trust.ParseBundle(pemBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %s is not an anchor: %w", flag, dir, anchorCertFile, err)
	}
	if n := len(b.Anchors()); n != 1 {
		return nil, nil, fmt.Errorf("%s %s: %s holds %d anchors: give a folder of one anchor, and the others with --bundle", flag, dir, anchorCertFile, n)
	}
	return b.Anchors()[0], pemBytes, nil
}

// readAnchor reads dir/ca.crt and dir/ca.key: an anchor that can sign.
func readAnchor(flag, dir string) (*trust.CA, error) {
	_, certPEM, err := readAnchorCert(flag, dir)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, anchorKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: there is no %s: the anchor's key is needed to sign with it; give the folder that holds both files", flag, dir, anchorKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	ca, err := trust.LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %s and %s (read as tls.crt and tls.key): %w", flag, dir, anchorCertFile, anchorKeyFile, err)
	}
	return ca, nil
}

// readBundleFile reads a PEM file of anchors, for the flag that named it.
func readBundleFile(flag, path string) (*trust.Bundle, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	b, err := trust.ParseBundle(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: give a PEM file of anchors (self-signed CA certificates), such as another anchor's %s", flag, path, err, anchorCertFile)
	}
	return b, nil
}

// writeFile writes data to dir/name with perm, whole or not at all. Unless replace is set
// it fails if the file exists, checked by the same system call that makes it (a hard link
// from a temporary file), so that two runs cannot both believe they wrote the key.
func writeFile(dir, name string, data []byte, perm fs.FileMode, replace bool) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := os.Remove(tmp.Name()); err == nil && rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = rmErr
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	return os.Link(tmp.Name(), path)
}

// describeCert names a certificate (an anchor, an issuer) for messages: its common name,
// which people read, and the start of its fingerprint, which tells apart two anchors of the
// same name during a rotation.
func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("%q (sha256 %s)", c.Subject.CommonName, trust.Fingerprint(c)[:16])
}

// describeBundle lists a bundle's anchors for messages.
func describeBundle(b *trust.Bundle) string {
	anchors := b.Anchors()
	s := fmt.Sprintf("%d anchors:", len(anchors))
	if len(anchors) == 1 {
		s = "1 anchor:"
	}
	for i, a := range anchors {
		if i > 0 {
			s += ","
		}
		s += " " + describeCert(a)
	}
	return s
}
