package trustcmd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshfed/meshfed/pkg/trust"
)

func TestRotateGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"rotate_bundle", []string{"--step", "bundle"}},
		{"rotate_reissue", []string{"--step", "reissue", "--issuer-validity", "720h"}},
		{"rotate_reissue_cert_manager", []string{"--step", "reissue", "--cert-manager", "--cert-manager-namespace", "security"}},
		{"rotate_drop", []string{"--step", "drop"}},
		{"rotate_drop_cert_manager", []string{"--step", "drop", "--cert-manager"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			old := writeAnchor(t, "anchor", "meshfed trust anchor 2026")
			next := writeAnchor(t, "anchor-2031", "meshfed trust anchor 2031")
			out, stderr, err := run(nil, append([]string{"rotate-anchor", "--old", "anchor", "--new", "anchor-2031", "--cluster", "west"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v; stderr %q", err, stderr)
			}
			n := anchorNames(old, "old", next, "new")
			golden(t, tt.name+".golden", n.yaml(t, out)+"\n# stderr:\n"+n.text(stderr))
		})
	}
}

func TestRotateBadInput(t *testing.T) {
	inTempDir(t)
	writeAnchor(t, "anchor", "a")
	writeAnchor(t, "next", "b")
	must(t, copyFile("anchor/ca.crt", "same/ca.crt"))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--new", "next", "--cluster", "west", "--step", "bundle"}, "--old is required"},
		{[]string{"--old", "anchor", "--cluster", "west", "--step", "bundle"}, "--new is required"},
		{[]string{"--old", "anchor", "--new", "next", "--cluster", "west"}, "--step is required: bundle, then reissue, then drop"},
		{[]string{"--old", "anchor", "--new", "next", "--cluster", "west", "--step", "swap"}, `--step "swap" is not a step`},
		{[]string{"--old", "anchor", "--new", "next", "--step", "bundle"}, "--cluster is required"},
		{[]string{"--old", "anchor", "--new", "same", "--cluster", "west", "--step", "bundle"}, "--old anchor and --new same hold the same anchor"},
		{[]string{"--old", "nothere", "--new", "next", "--cluster", "west", "--step", "bundle"}, "--old nothere: there is no ca.crt"},
		{[]string{"--old", "anchor", "--new", "same", "--cluster", "west", "--step", "reissue"}, "hold the same anchor"},
		{[]string{"--old", "anchor", "--new", "next", "--cluster", "west", "--step", "reissue", "--cert-manager", "--issuer-validity", "1h"}, "--issuer-validity applies without --cert-manager only"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := run(nil, append([]string{"rotate-anchor"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %d bytes on failure", len(out))
			}
		})
	}
	// Only reissue needs the new anchor's key; the old one's is never read.
	must(t, copyFile("next/ca.crt", "nextcert/ca.crt"))
	for _, step := range []string{"bundle", "drop"} {
		if _, _, err := run(nil, "rotate-anchor", "--old", "same", "--new", "nextcert", "--cluster", "west", "--step", step); err != nil {
			t.Errorf("--step %s without keys: %v", step, err)
		}
	}
	if _, _, err := run(nil, "rotate-anchor", "--old", "same", "--new", "nextcert", "--cluster", "west", "--step", "reissue"); err == nil || !strings.Contains(err.Error(), "--new nextcert: there is no ca.key") {
		t.Errorf("--step reissue without the new key: %v", err)
	}
}

// walkCluster is one cluster during a rotation without cert-manager: what it applied,
// and the leaves its workloads hold.
type walkCluster struct {
	name   string
	bundle *trust.Bundle
	issuer *trust.CA
	// leaves are the workloads' leaves, each with the issuer that signed it: a proxy
	// sends both, and the issuer may be one the cluster has since replaced.
	leaves []signed
}

type signed struct{ leaf, issuer *x509.Certificate }

// apply takes what a step printed for the cluster.
func (c *walkCluster) apply(t *testing.T, out string) {
	t.Helper()
	for _, u := range decode(t, out) {
		switch u.GetKind() {
		case "ConfigMap":
			b, err := trust.ParseBundle([]byte(typed[corev1.ConfigMap](t, u).Data[trust.BundleKey]))
			must(t, err)
			c.bundle = b
		case "Secret":
			s := typed[corev1.Secret](t, u)
			ca, err := trust.LoadCA(s.Data["tls.crt"], s.Data["tls.key"])
			must(t, err)
			c.issuer = ca
		}
	}
}

// sign gives a workload of c a leaf from its current issuer, as its identity service does.
func (c *walkCluster) sign(t *testing.T, now time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	id := trust.ID{TrustDomain: trust.DefaultTrustDomain(c.name), Namespace: "default", ServiceAccount: "web"}
	der, err := trust.NewCSR(key, id)
	must(t, err)
	csr, _, err := trust.ParseCSR(der)
	must(t, err)
	leaf, err := c.issuer.SignLeaf(csr, id, trust.LeafTTL, now)
	must(t, err)
	c.leaves = append(c.leaves, signed{leaf, c.issuer.Cert})
}

// The whole walk, applied to one cluster after the other as an operator would: after
// every single apply, every leaf still valid verifies in every cluster. No outage.
func TestRotateWalkHasNoOutage(t *testing.T) {
	inTempDir(t)
	writeAnchor(t, "anchor", "old")
	next := writeAnchor(t, "anchor-2031", "new")
	clusters := []*walkCluster{{name: "west"}, {name: "east"}}
	now := testNow

	checkAll := func(when string) {
		t.Helper()
		for _, verifier := range clusters {
			for _, holder := range clusters {
				for _, l := range holder.leaves {
					if now.After(l.leaf.NotAfter) {
						continue // expired, and its proxy has fetched a new one
					}
					if _, err := verifier.bundle.Verify(l.leaf, []*x509.Certificate{l.issuer}, now); err != nil {
						t.Errorf("%s: %s refuses a leaf of %s: %v", when, verifier.name, holder.name, err)
					}
				}
			}
		}
	}
	for _, c := range clusters {
		out, _, err := run(nil, "cluster", "--anchor", "anchor", "--cluster", c.name)
		must(t, err)
		c.apply(t, out)
		c.sign(t, now)
	}
	checkAll("before the rotation")
	for _, step := range []string{"bundle", "reissue", "drop"} {
		if step == "drop" {
			// The operator waits until every leaf of an old issuer has expired.
			now = now.Add(trust.LeafTTL + time.Minute)
			for _, c := range clusters {
				c.sign(t, now)
			}
		}
		for _, c := range clusters {
			out, stderr, err := run(nil, "rotate-anchor", "--old", "anchor", "--new", "anchor-2031", "--cluster", c.name, "--step", step)
			if err != nil {
				t.Fatalf("%s %s: %v; %s", step, c.name, err, stderr)
			}
			c.apply(t, out)
			c.sign(t, now)
			checkAll("after " + step + " in " + c.name)
		}
	}
	for _, c := range clusters {
		if anchors := c.bundle.Anchors(); len(anchors) != 1 || !anchors[0].Equal(next.Cert) {
			t.Errorf("%s trusts %d anchors at the end, want the new one only", c.name, len(anchors))
		}
		if a, err := c.bundle.VerifyIssuer(c.issuer.Cert, c.issuer.Chain, now); err != nil || !a.Equal(next.Cert) {
			t.Errorf("%s's issuer does not chain to the new anchor: %v", c.name, err)
		}
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
