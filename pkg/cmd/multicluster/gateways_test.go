package multicluster

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

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
	f := newFactory(&rest.Config{Host: westHost}, newCluster(westHost, nil,
		toUnstructured(t, newLink("east", gatewayCondition(metav1.ConditionTrue, "ProbeSucceeded"))),
		toUnstructured(t, newLink("north", gatewayCondition(metav1.ConditionFalse, "ProbeFailed"))),
		toUnstructured(t, newLink("south")),
	))
	out, stderr, err := run(f, "gateways")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %q; want a header and 3 lines", out)
	}
	for i, want := range [][]string{
		{"CLUSTER", "ALIVE", "SINCE", "GATEWAY", "MIRRORED"},
		{"east", "true", "90s", "198.18.0.100:4143", "3"},
		{"north", "false", "90s", "198.18.0.100:4143", "3"},
		{"south", "unknown", "-", "198.18.0.100:4143", "0"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want %q", i, got, want)
		}
	}

	js, _, err := run(f, "gateways", "-o", "json")
	if err != nil || !strings.Contains(js, `"alive": "false"`) || !strings.Contains(js, `"reason": "ProbeFailed"`) {
		t.Errorf("json: %v\n%s", err, js)
	}
	if _, _, err := run(f, "gateways", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("-o yaml: %v, want an error naming --output", err)
	}
}

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
