package trustcmd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
	"github.com/meshfed/meshfed/pkg/trust"
	"github.com/meshfed/meshfed/pkg/trust/certmanager"
)

// clusterState is what verify read of one cluster: public certificates only.
type clusterState struct {
	context string
	host    string

	bundle    *trust.Bundle
	bundleErr error

	issuer *x509.Certificate
	// chain is what tls.crt holds above the issuer; caAnchors what ca.crt holds: the
	// anchor cert-manager says signed it, which tells what a failing cluster lacks.
	chain     []*x509.Certificate
	caAnchors []*x509.Certificate
	issuerErr error
}

// readCluster reads the bundle and the issuer of the cluster of the context name. A
// cluster that does not answer is asked once, not once per object.
func readCluster(ctx context.Context, f cmdutil.Factory, name string) *clusterState {
	s := &clusterState{context: name}
	c, err := cmdutil.ClientsForContext(f, name)
	if err != nil {
		s.bundleErr, s.issuerErr = err, err
		return s
	}
	s.host = c.Host
	var answered bool
	s.bundle, answered, s.bundleErr = ReadBundle(ctx, c)
	if !answered {
		s.issuerErr = fmt.Errorf("not read: %s did not answer (see above)", name)
		return s
	}
	s.issuer, s.chain, s.caAnchors, s.issuerErr = ReadIssuer(ctx, c)
	return s
}

// ReadBundle reads the bundle ConfigMap, and says whether the API server answered at all.
func ReadBundle(ctx context.Context, c *cmdutil.Clients) (b *trust.Bundle, answered bool, err error) {
	cm, err := c.Kube.CoreV1().ConfigMaps(trust.Namespace).Get(ctx, trust.BundleConfigMapName, metav1.GetOptions{})
	var status apierrors.APIStatus
	answered = err == nil || errors.As(err, &status)
	if apierrors.IsNotFound(err) {
		return nil, answered, fmt.Errorf("no ConfigMap %s/%s", trust.Namespace, trust.BundleConfigMapName)
	}
	if err != nil {
		return nil, answered, fmt.Errorf("reading the ConfigMap %s/%s: %w", trust.Namespace, trust.BundleConfigMapName, err)
	}
	data, ok := cm.Data[trust.BundleKey]
	if !ok {
		return nil, answered, fmt.Errorf("the ConfigMap %s/%s has no key %s", trust.Namespace, trust.BundleConfigMapName, trust.BundleKey)
	}
	b, err = trust.ParseBundle([]byte(data))
	if err != nil {
		return nil, answered, fmt.Errorf("the ConfigMap %s/%s, key %s: %w", trust.Namespace, trust.BundleConfigMapName, trust.BundleKey, err)
	}
	return b, answered, nil
}

// ReadIssuer reads tls.crt and ca.crt of the issuer Secret, and nothing else of it.
func ReadIssuer(ctx context.Context, c *cmdutil.Clients) (issuer *x509.Certificate, chain, caAnchors []*x509.Certificate, err error) {
	sec, err := c.Kube.CoreV1().Secrets(trust.Namespace).Get(ctx, trust.IssuerSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil, fmt.Errorf("no Secret %s/%s", trust.Namespace, trust.IssuerSecretName)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the Secret %s/%s: %w", trust.Namespace, trust.IssuerSecretName, err)
	}
	crt, ok := sec.Data["tls.crt"]
	if !ok || len(crt) == 0 {
		return nil, nil, nil, fmt.Errorf("the Secret %s/%s has no tls.crt yet", trust.Namespace, trust.IssuerSecretName)
	}
	certs, err := trust.ParseCertificates(crt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the Secret %s/%s, key tls.crt: %w", trust.Namespace, trust.IssuerSecretName, err)
	}
	if ca, err := trust.ParseBundle(sec.Data[certmanager.CACertKey]); err == nil {
		caAnchors = ca.Anchors()
	}
	return certs[0], certs[1:], caAnchors, nil
}

// requirements are the anchors --require-anchor and --require-issuer-anchor name.
type requirements struct {
	anchor, issuerAnchor         *x509.Certificate
	anchorFile, issuerAnchorFile string
}

// check is one line of verify: its run returns what it found, or what is wrong.
type check struct {
	description string
	hint        string
	run         func() (detail string, err error)
}

type category struct {
	name   string
	checks []check
}

// clusterCategories are the checks of every cluster: its own, then whether each cluster
// (itself first) trusts its issuer, then the required anchors. A check that needs what
// could not be read is left out: the check that read it has failed already, and n
// clusters would otherwise repeat it n times.
func clusterCategories(clusters []*clusterState, req requirements, now time.Time) []category {
	known := knownAnchors(clusters)
	var cats []category
	for _, s := range clusters {
		name := s.context
		if s.host != "" {
			name += " (" + s.host + ")"
		}
		c := category{name: name, checks: []check{bundleCheck(s), issuerCheck(s, known, now)}}
		others := slices.DeleteFunc(slices.Clone(clusters), func(t *clusterState) bool { return t == s })
		for _, t := range append([]*clusterState{s}, others...) {
			if s.issuerErr == nil && t.bundleErr == nil {
				c.checks = append(c.checks, trustCheck(t, s, known, now))
			}
		}
		if req.anchor != nil && s.bundleErr == nil {
			c.checks = append(c.checks, requiredAnchorCheck(s, req))
		}
		if req.issuerAnchor != nil && s.issuerErr == nil {
			c.checks = append(c.checks, requiredIssuerAnchorCheck(s, req, known, now))
		}
		cats = append(cats, c)
	}
	return cats
}

// knownAnchors are all anchors verify has seen, in bundles and in ca.crt: what an issuer
// that no bundle trusts may chain to, to name it in the hint.
func knownAnchors(clusters []*clusterState) *trust.Bundle {
	var all []*x509.Certificate
	for _, s := range clusters {
		if s.bundle != nil {
			all = append(all, s.bundle.Anchors()...)
		}
		all = append(all, s.caAnchors...)
	}
	return trust.NewBundle(all...)
}

// issuerAnchor is the anchor s's issuer chains to, among those known, or nil.
func issuerAnchor(s *clusterState, known *trust.Bundle, now time.Time) *x509.Certificate {
	if s.issuer == nil || len(known.Anchors()) == 0 {
		return nil
	}
	a, err := known.VerifyIssuer(s.issuer, s.chain, now)
	if err != nil {
		// Expired, say: the anchor is still the one its chain names.
		a, _ = known.VerifyIssuer(s.issuer, s.chain, s.issuer.NotBefore.Add(time.Second))
	}
	return a
}

func (s *clusterState) fixIssuer() string {
	return fmt.Sprintf("with cert-manager, see why it has not made or renewed the issuer: kubectl --context %[1]s -n %[2]s describe certificate %[3]s; without, make a new one: mesh trust cluster --anchor DIR --cluster %[1]s | kubectl --context %[1]s apply -f -",
		s.context, trust.Namespace, trust.IssuerCertificateName)
}

func bundleCheck(s *clusterState) check {
	return check{
		description: fmt.Sprintf("the trust bundle (ConfigMap %s/%s) holds anchors", trust.Namespace, trust.BundleConfigMapName),
		hint:        fmt.Sprintf("make it: mesh trust cluster --anchor DIR --cluster %[1]s [--cert-manager] | kubectl --context %[1]s apply -f -", s.context),
		run: func() (string, error) {
			if s.bundleErr != nil {
				return "", s.bundleErr
			}
			return describeBundle(s.bundle), nil
		},
	}
}

func issuerCheck(s *clusterState, known *trust.Bundle, now time.Time) check {
	return check{
		description: fmt.Sprintf("the issuer (Secret %s/%s) is a CA valid for %s more at least", trust.Namespace, trust.IssuerSecretName, hours(trust.LeafTTL)),
		hint:        s.fixIssuer(),
		run: func() (string, error) {
			if s.issuerErr != nil {
				return "", s.issuerErr
			}
			c := s.issuer
			switch {
			case !c.BasicConstraintsValid || !c.IsCA:
				return "", fmt.Errorf("%s is not a CA: the Secret holds a leaf, not an issuer", describeCert(c))
			case now.Before(c.NotBefore):
				return "", fmt.Errorf("%s is not valid before %s (is a clock wrong?)", describeCert(c), date(c.NotBefore))
			case !now.Before(c.NotAfter):
				return "", fmt.Errorf("%s expired at %s", describeCert(c), date(c.NotAfter))
			case c.NotAfter.Before(now.Add(trust.LeafTTL)):
				return "", fmt.Errorf("%s expires at %s, within %s: the leaves it signs are cut short", describeCert(c), date(c.NotAfter), hours(trust.LeafTTL))
			}
			detail := fmt.Sprintf("%s, valid until %s", describeCert(c), date(c.NotAfter))
			if a := issuerAnchor(s, known, now); a != nil {
				detail += ", signed under the anchor " + describeCert(a)
			}
			return detail, nil
		},
	}
}

// trustCheck: does t trust s's issuer?
func trustCheck(t, s *clusterState, known *trust.Bundle, now time.Time) check {
	desc := fmt.Sprintf("%s trusts the issuer of %s: its bundle holds the anchor the issuer chains to", t.context, s.context)
	if t == s {
		desc = fmt.Sprintf("%s trusts its own issuer: its bundle holds the anchor the issuer chains to", s.context)
	}
	anchor := issuerAnchor(s, known, now)
	hint := fmt.Sprintf("%[1]s does not share the anchor of %[2]s's issuer: add it to %[1]s's bundle with mesh trust cluster --anchor DIR --cluster %[1]s --bundle <the anchor's ca.crt> | kubectl --context %[1]s apply -f -; during a rotation, apply step 1 to %[1]s (mesh trust rotate-anchor --help)", t.context, s.context)
	if anchor != nil && t.bundle != nil && t.bundle.Contains(anchor) {
		hint = fmt.Sprintf("%s's bundle holds the anchor; the issuer of %s or its chain is at fault: %s", t.context, s.context, s.fixIssuer())
	}
	return check{
		description: desc,
		hint:        hint,
		run: func() (string, error) {
			a, err := t.bundle.VerifyIssuer(s.issuer, s.chain, now)
			if err == nil {
				return "through the anchor " + describeCert(a), nil
			}
			if anchor == nil || !t.bundle.Contains(anchor) {
				what := "an anchor verify has not seen in any bundle"
				if anchor != nil {
					what = "the anchor " + describeCert(anchor)
				}
				return "", fmt.Errorf("the issuer of %s chains to %s, which %s's bundle does not hold (it holds %s)", s.context, what, t.context, describeBundle(t.bundle))
			}
			return "", err
		},
	}
}

func requiredAnchorCheck(s *clusterState, req requirements) check {
	return check{
		description: fmt.Sprintf("the trust bundle holds the anchor of --require-anchor, %s", describeCert(req.anchor)),
		hint: fmt.Sprintf("give %[1]s the anchor: mesh trust rotate-anchor --old <the anchor in use> --new %[2]s --cluster %[1]s --step bundle | kubectl --context %[1]s apply -f -",
			s.context, anchorDirOf(req.anchorFile)),
		run: func() (string, error) {
			if !s.bundle.Contains(req.anchor) {
				return "", fmt.Errorf("the bundle holds %s", describeBundle(s.bundle))
			}
			return "", nil
		},
	}
}

func requiredIssuerAnchorCheck(s *clusterState, req requirements, known *trust.Bundle, now time.Time) check {
	return check{
		description: fmt.Sprintf("the issuer chains to the anchor of --require-issuer-anchor, %s", describeCert(req.issuerAnchor)),
		hint: fmt.Sprintf("reissue %[1]s's issuer from that anchor: mesh trust rotate-anchor --old <the anchor in use> --new %[2]s --cluster %[1]s --step reissue | kubectl --context %[1]s apply -f -; with cert-manager, then renew it: cmctl renew -n %[3]s %[4]s",
			s.context, anchorDirOf(req.issuerAnchorFile), trust.Namespace, trust.IssuerCertificateName),
		run: func() (string, error) {
			_, err := trust.NewBundle(req.issuerAnchor).VerifyIssuer(s.issuer, s.chain, now)
			if err == nil {
				return "", nil
			}
			if a := issuerAnchor(s, known, now); a != nil {
				return "", fmt.Errorf("the issuer chains to the anchor %s instead", describeCert(a))
			}
			return "", err
		},
	}
}

// anchorDirOf is the folder rotate-anchor wants for an anchor given as a file: the file's
// folder when it is a ca.crt, as 'mesh trust anchor' names it.
func anchorDirOf(file string) string {
	if filepath.Base(file) == anchorCertFile {
		return filepath.Dir(file)
	}
	return "<the folder of " + file + ", with its ca.key>"
}
