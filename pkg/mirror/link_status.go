package mirror

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// setStatus writes what the reconcile found into the Link's status: the three conditions and
// one entry per export.
func (r *linkReconciler) setStatus(s *linkScope, err error) {
	st := &s.link.Status
	st.ObservedGeneration = s.link.Generation
	st.Services, st.MirroredServices = r.statuses.of(s.key)
	setCredentialsCondition(st, s.gen(), s.credentialsErr)
	state := setRemoteCondition(st, s.gen(), s.remote, s.credentialsErr)
	setGatewayCondition(st, s.gen(), s.gateway)
	setReadyCondition(st, s.gen(), err)
	r.setRemoteState(s.key.String(), s.link.Spec.TargetClusterName, state)
	mirrorsGauge.WithLabelValues(s.key.String()).Set(float64(st.MirroredServices))
}

// setRemoteState sets a Link's meshfed_link_remote_state, labelled with the cluster it links
// to, as the proxies' metrics name a remote cluster: a dashboard need not know how Links are
// named.
func (r *linkReconciler) setRemoteState(link, remoteCluster string, state int) {
	if old, ok := r.remoteLabels.Swap(link, remoteCluster); ok && old.(string) != remoteCluster {
		remoteStateGauge.DeleteLabelValues(link, old.(string))
	}
	remoteStateGauge.WithLabelValues(link, remoteCluster).Set(float64(state))
}

func (s *linkScope) gen() int64 { return s.link.Generation }

func setCredentialsCondition(st *mcv1alpha1.LinkStatus, gen int64, bad *notMirrored) {
	c := metav1.Condition{Type: mcv1alpha1.LinkCredentialsValid, Status: metav1.ConditionTrue, Reason: "Valid", Message: "the credentials reach the remote cluster and are read-only", ObservedGeneration: gen}
	if bad != nil && bad.Reason != "RemoteUnreachable" {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, bad.Reason, bad.Message
	} else if bad != nil {
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, "RemoteUnreachable", "not checked: the remote cluster did not answer"
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

// setRemoteCondition says whether the remote is watched; it returns the state for the metric
// (3 when no watch runs).
func setRemoteCondition(st *mcv1alpha1.LinkStatus, gen int64, rem *remote, bad *notMirrored) int {
	c := metav1.Condition{Type: mcv1alpha1.LinkRemoteReachable, ObservedGeneration: gen}
	state := 3
	switch {
	case rem == nil && bad != nil && bad.Reason == "RemoteUnreachable":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, "Unreachable", bad.Message+"; mirrors stay, their endpoints not ready"
		state = int(remoteUnreachable)
	case rem == nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, "NotWatched", "the remote is not watched until the credentials are fixed; mirrors stay, their endpoints not ready"
	default:
		state = int(rem.State())
		switch rem.State() {
		case remoteStarting:
			c.Status, c.Reason, c.Message = metav1.ConditionUnknown, "Starting", "the remote's watches are syncing"
		case remoteHealthy:
			c.Status, c.Reason, c.Message = metav1.ConditionTrue, "Watched", "the remote answers and its watches are synced"
		case remoteUnreachable:
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, "Unreachable", fmt.Sprintf("the remote has not answered %d probes in a row; mirrors stay, their endpoints not ready", unreachableAfter)
		}
	}
	meta.SetStatusCondition(&st.Conditions, c)
	return state
}

// setGatewayCondition says whether the remote gateway is alive, by gossip or its probe; a
// Link of which neither says anything has no such condition.
func setGatewayCondition(st *mcv1alpha1.LinkStatus, gen int64, lv gatewayLiveness) {
	if !lv.known {
		meta.RemoveStatusCondition(&st.Conditions, mcv1alpha1.LinkGatewayAlive)
		return
	}
	c := metav1.Condition{Type: mcv1alpha1.LinkGatewayAlive, Status: metav1.ConditionTrue, Reason: lv.reason,
		Message: lv.message, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(lv.since)}
	if !lv.alive {
		c.Status = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&st.Conditions, c)
}

func setReadyCondition(st *mcv1alpha1.LinkStatus, gen int64, err error) {
	c := metav1.Condition{Type: mcv1alpha1.LinkReady, Status: metav1.ConditionTrue, Reason: "Mirroring", ObservedGeneration: gen}
	notMirrored := 0
	for _, s := range st.Services {
		if !meta.IsStatusConditionTrue(s.Conditions, mcv1alpha1.ServiceMirrored) {
			notMirrored++
		}
	}
	switch {
	case err != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, "Error", "reconciling failed, see the link controller's log: "+err.Error()
	case !meta.IsStatusConditionTrue(st.Conditions, mcv1alpha1.LinkCredentialsValid):
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, "CredentialsInvalid", "see condition CredentialsValid"
	case !meta.IsStatusConditionTrue(st.Conditions, mcv1alpha1.LinkRemoteReachable):
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, "RemoteNotReachable", "see condition RemoteReachable"
	case notMirrored > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, "ServicesNotMirrored", fmt.Sprintf("%d of %d exports are not mirrored: see status.services", notMirrored, len(st.Services))
	default:
		c.Message = fmt.Sprintf("%d exports mirrored", st.MirroredServices)
	}
	meta.SetStatusCondition(&st.Conditions, c)
}
