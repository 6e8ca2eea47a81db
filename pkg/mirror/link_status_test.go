package mirror

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRemoteStateNamesTheRemoteCluster(t *testing.T) {
	// A Link of its own: the suite's controllers set the same gauge for theirs meanwhile.
	const link = "test-remote-state/east-eu"
	r := &linkReconciler{}
	t.Cleanup(func() { remoteStateGauge.DeletePartialMatch(prometheus.Labels{"link": link}) })

	r.setRemoteState(link, "east", 1)
	r.setRemoteState(link, "east", 2)
	if got := testutil.ToFloat64(remoteStateGauge.WithLabelValues(link, "east")); got != 2 {
		t.Errorf("state for east is %v, want 2", got)
	}
	// Retargeted: the series for the cluster it named before goes.
	r.setRemoteState(link, "east-2", 1)
	if remoteStateGauge.DeleteLabelValues(link, "east") {
		t.Errorf("the series for east is still there after the Link was retargeted to east-2")
	}
	if got := testutil.ToFloat64(remoteStateGauge.WithLabelValues(link, "east-2")); got != 1 {
		t.Errorf("state for east-2 is %v, want 1", got)
	}
}
