package multicluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func TestGateways(t *testing.T) {
	gatewayCondition := func(status metav1.ConditionStatus, reason string) func(*mcv1alpha1.Link) {
		return func(l *mcv1alpha1.Link) {
			meta.SetStatusCondition(&l.Status.Conditions, metav1.Condition{Type: mcv1alpha1.LinkGatewayAlive, Status: status, Reason: reason,
				LastTransitionTime: metav1.NewTime(time.Now().Add(-90 * time.Second))})
			l.Status.MirroredServices = 3
		}
	}
	west := newCluster(westHost, nil,
		toUnstructured(t, newLink("east", gatewayCondition(metav1.ConditionTrue, "ProbeSucceeded"))),
		toUnstructured(t, newLink("north", gatewayCondition(metav1.ConditionFalse, "ProbeFailed"))),
		toUnstructured(t, newLink("south")),
	)
	// West's gateway, asked through the apiserver, says the pool: two gateways of east
	// (the nearer one counts), north's dead.
	west.kube.PrependProxyReactor("services", func(a k8stesting.Action) (bool, rest.ResponseWrapper, error) {
		p := a.(k8stesting.ProxyGetAction)
		if p.GetNamespace() != Namespace || p.GetName() != GatewayAdminServiceName || p.GetPort() != GatewayAdminPortName || p.GetPath() != "/members" {
			return true, nil, fmt.Errorf("unexpected proxy to %s/%s:%s%s", p.GetNamespace(), p.GetName(), p.GetPort(), p.GetPath())
		}
		return true, rawResponse(`[
			{"name":"west-gw","cluster":"west","state":"alive","rttNanoseconds":0},
			{"name":"east-gw-1","cluster":"east","state":"alive","rttNanoseconds":900000},
			{"name":"east-gw-2","cluster":"east","state":"alive","rttNanoseconds":420000},
			{"name":"north-gw","cluster":"north","state":"dead","rttNanoseconds":300000}]`), nil
	})
	f := newFactory(&rest.Config{Host: westHost}, west)
	out, stderr, err := run(f, "gateways")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %q; want a header and 3 lines", out)
	}
	for i, want := range [][]string{
		{"CLUSTER", "ALIVE", "SINCE", "LATENCY", "GATEWAY", "MIRRORED"},
		{"east", "true", "90s", "420µs", "198.18.0.100:4143", "3"},
		{"north", "false", "90s", "-", "198.18.0.100:4143", "3"},
		{"south", "unknown", "-", "-", "198.18.0.100:4143", "0"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want %q", i, got, want)
		}
	}

	js, _, err := run(f, "gateways", "-o", "json")
	if err != nil || !strings.Contains(js, `"alive": "false"`) || !strings.Contains(js, `"reason": "ProbeFailed"`) || !strings.Contains(js, `"rttNanoseconds": 420000`) {
		t.Errorf("json: %v\n%s", err, js)
	}
	if _, _, err := run(f, "gateways", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("-o yaml: %v, want an error naming --output", err)
	}
}

// Without an answer from the gateway the table still stands, with no latency, and says why
// on stderr.
func TestGatewaysWithoutGossip(t *testing.T) {
	west := newCluster(westHost, nil, toUnstructured(t, newLink("east")))
	// The fake drops a reactor's error: the refusal comes from the response, as from a
	// real apiserver.
	west.kube.PrependProxyReactor("services", func(k8stesting.Action) (bool, rest.ResponseWrapper, error) {
		return true, errResponse{errors.New(`services "mesh-gateway-admin" is forbidden`)}, nil
	})
	out, stderr, err := run(newFactory(&rest.Config{Host: westHost}, west), "gateways")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "No latencies") || !strings.Contains(stderr, "forbidden") {
		t.Errorf("stderr %q does not say why there is no latency", stderr)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || strings.Fields(lines[1])[3] != "-" {
		t.Errorf("printed %q; want east with latency -", out)
	}
}

// rawResponse is what a fake proxy request answers.
type rawResponse string

func (r rawResponse) DoRaw(context.Context) ([]byte, error) { return []byte(r), nil }
func (r rawResponse) Stream(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(string(r))), nil
}

// errResponse is a proxy request the apiserver refuses.
type errResponse struct{ err error }

func (r errResponse) DoRaw(context.Context) ([]byte, error)         { return nil, r.err }
func (r errResponse) Stream(context.Context) (io.ReadCloser, error) { return nil, r.err }

func TestCheckGatewayAlive(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status metav1.ConditionStatus // empty: no condition
		ok     bool
	}{
		{"not probed", "", true},
		{"alive", metav1.ConditionTrue, true},
		{"dead", metav1.ConditionFalse, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink("east")
			if tt.status != "" {
				meta.SetStatusCondition(&l.Status.Conditions, metav1.Condition{Type: mcv1alpha1.LinkGatewayAlive, Status: tt.status, Reason: "ProbeFailed", Message: "connection refused"})
			}
			err := checkGatewayAlive(l)
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}
