package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ID is a SPIFFE workload identity spiffe://<trust-domain>/ns/<ns>/sa/<sa>.
type ID struct{ TrustDomain, Namespace, ServiceAccount string }

const (
	idScheme = "spiffe://"
	// maxIDLength is the SPIFFE spec's bound on an ID, in bytes.
	maxIDLength = 2048
	idForm      = "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"
)

// ParseID parses s strictly: the scheme spiffe, a lower-case DNS trust domain, exactly
// /ns/<namespace>/sa/<service-account>, nothing else. Anything a URL parser would quietly
// normalise (case, percent-escapes, a port, a trailing slash) is an error instead: an ID is
// compared as a string by everyone downstream, so two spellings of one ID must not exist.
func ParseID(s string) (ID, error) {
	if err := parseIDErr(s); err != nil {
		return ID{}, fmt.Errorf("spiffe ID %.128q: %w", s, err)
	}
	rest := s[len(idScheme):]
	td, path, _ := strings.Cut(rest, "/")
	seg := strings.Split(path, "/")
	id := ID{TrustDomain: td, Namespace: seg[1], ServiceAccount: seg[3]}
	if err := id.Validate(); err != nil {
		return ID{}, fmt.Errorf("spiffe ID %.128q: %w", s, err)
	}
	return id, nil
}

// parseIDErr checks the shape of s, leaving the names themselves to Validate.
func parseIDErr(s string) error {
	if len(s) > maxIDLength {
		return fmt.Errorf("is %d bytes long: a SPIFFE ID holds at most %d", len(s), maxIDLength)
	}
	if !strings.HasPrefix(s, idScheme) {
		scheme, _, found := strings.Cut(s, ":")
		switch {
		case scheme != "spiffe" && strings.EqualFold(scheme, "spiffe"):
			return fmt.Errorf("the scheme must be written spiffe://, in lower case: want %s", idForm)
		case found && scheme != "" && scheme != "spiffe":
			return fmt.Errorf("the scheme %.32q is not spiffe: want %s", scheme, idForm)
		default:
			return fmt.Errorf("does not start with spiffe://: want %s", idForm)
		}
	}
	rest := s[len(idScheme):]
	for _, c := range []struct{ char, what string }{
		{"?", "a query"},
		{"#", "a fragment"},
		{"%", "a percent-escape (write names plainly)"},
		{"@", "user info"},
		{"\\", "a backslash"},
	} {
		if strings.Contains(rest, c.char) {
			return fmt.Errorf("holds %s: want %s", c.what, idForm)
		}
	}
	td, path, found := strings.Cut(rest, "/")
	switch {
	case td == "":
		return fmt.Errorf("the trust domain is empty: want %s", idForm)
	case strings.Contains(td, ":"):
		return fmt.Errorf("the trust domain %.64q holds a port: a trust domain is a name only", td)
	case !found || path == "":
		return fmt.Errorf("has no path: want %s", idForm)
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("ends with '/': want %s", idForm)
	}
	seg := strings.Split(path, "/")
	if len(seg) != 4 || seg[0] != "ns" || seg[2] != "sa" {
		return fmt.Errorf("the path /%.128s is not /ns/<namespace>/sa/<service-account>", path)
	}
	return nil
}

// String returns the ID as a URI: spiffe://<trust-domain>/ns/<ns>/sa/<sa>.
func (id ID) String() string {
	return idScheme + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// URL returns the ID as a URL, as it goes into a certificate's URI SAN.
func (id ID) URL() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.TrustDomain, Path: "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount}
}

// Validate checks each part of the ID, naming the one that is wrong.
func (id ID) Validate() error {
	switch {
	case id.TrustDomain == "":
		return errors.New("the trust domain is empty: give a DNS name such as west.meshfed.local")
	case id.TrustDomain != strings.ToLower(id.TrustDomain):
		return fmt.Errorf("the trust domain %.64q is not lower case: trust domains are compared as written", id.TrustDomain)
	case !isDNSSubdomain(id.TrustDomain):
		return fmt.Errorf("the trust domain %.64q is not a DNS name: use labels of lower-case letters, digits and '-', joined by '.', such as west.meshfed.local", id.TrustDomain)
	case id.Namespace == "":
		return errors.New("the namespace is empty")
	case !isDNSLabel(id.Namespace):
		return fmt.Errorf("the namespace %.64q is not a Kubernetes namespace name (a DNS-1123 label)", id.Namespace)
	case id.ServiceAccount == "":
		return errors.New("the service account is empty")
	case !isDNSSubdomain(id.ServiceAccount):
		return fmt.Errorf("the service account %.64q is not a Kubernetes ServiceAccount name (a DNS-1123 subdomain)", id.ServiceAccount)
	}
	return nil
}

// IDFromCertificate returns the ID of a workload's certificate: it must hold exactly one URI
// SAN, read as written in the certificate (not as a URL parser rewrote it), which must parse.
func IDFromCertificate(c *x509.Certificate) (ID, error) {
	if c == nil {
		return ID{}, errors.New("no certificate")
	}
	sans, err := parseSANs(c.Extensions)
	if err != nil {
		return ID{}, fmt.Errorf("certificate %s: %w", describe(c), err)
	}
	if len(sans.uris) != 1 {
		return ID{}, fmt.Errorf("certificate %s holds %d URI SANs: a workload's certificate holds exactly one, its spiffe ID", describe(c), len(sans.uris))
	}
	id, err := ParseID(sans.uris[0])
	if err != nil {
		return ID{}, fmt.Errorf("certificate %s: %w", describe(c), err)
	}
	return id, nil
}
