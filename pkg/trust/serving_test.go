package trust

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestSignServing(t *testing.T) {
	ca, err := NewAnchor("meshfed injector CA", 48*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"meshfed-injector.mesh-system.svc", "meshfed-injector.mesh-system.svc.cluster.local"}
	cert, key, err := ca.SignServing(names, 24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("the key returned is not the certificate's")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, n := range names {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("does not verify as %s: %v", n, err)
		}
	}
	if len(cert.URIs) != 0 {
		t.Errorf("a serving certificate carries URIs %v: it is no workload identity", cert.URIs)
	}

	// It never outlives its CA.
	long, _, err := ca.SignServing(names, 1000*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !long.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %s, want the CA's %s", long.NotAfter, ca.Cert.NotAfter)
	}

	for _, tt := range []struct {
		name     string
		names    []string
		validity time.Duration
		now      time.Time
		want     string
	}{
		{"no name", nil, time.Hour, testNow, "no DNS name"},
		{"no validity", names, 0, testNow, "not positive"},
		{"CA expired", names, time.Hour, testNow.Add(49 * time.Hour), "expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ca.SignServing(tt.names, tt.validity, tt.now)
			checkErr(t, err, tt.want)
		})
	}
}
