package mirror

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	aboutv1alpha1 "github.com/meshfed/meshfed/pkg/apis/about/v1alpha1"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// validCondition says whether this cluster's ServiceExport can be exported, and if not, why
// and what fixes it.
func validCondition(s *clustersetScope) metav1.Condition {
	c := metav1.Condition{Type: mcsv1alpha1.ServiceExportValid, Status: metav1.ConditionFalse}
	switch {
	case s.service == nil:
		c.Reason = string(mcsv1alpha1.ServiceExportReasonNoService)
		c.Message = fmt.Sprintf("Service %s does not exist: create it, or delete this ServiceExport", s.key)
	case s.service.Spec.Type == corev1.ServiceTypeExternalName:
		c.Reason = string(mcsv1alpha1.ServiceExportReasonInvalidServiceType)
		c.Message = fmt.Sprintf("Service %s is of type ExternalName, an alias of a name outside the cluster, which is exported nowhere: export a Service with a selector instead", s.key)
	case s.nameErr != nil:
		c.Reason = "NameTooLong"
		c.Message = s.nameErr.Error()
	case s.cluster == "":
		c.Reason = "ClusterNameUnknown"
		c.Message = fmt.Sprintf("this cluster has no ClusterProperty %s saying its name: run `mesh install --cluster-name NAME` (or the link controller with --cluster-name)", aboutv1alpha1.ClusterIDProperty)
	default:
		c.Status = metav1.ConditionTrue
		c.Reason = string(mcsv1alpha1.ServiceExportReasonValid)
		c.Message = fmt.Sprintf("Service %s is exported to the clusterset as %s.%s.svc.clusterset.local", s.key, s.key.Name, s.key.Namespace)
	}
	return c
}

// conflictCondition says whether the exports of the service disagree (KEP-1645), naming the
// fields and the export that wins; it is Unknown while this cluster's export is not valid.
func conflictCondition(s *clustersetScope) metav1.Condition {
	c := metav1.Condition{Type: mcsv1alpha1.ServiceExportConflict}
	switch {
	case s.local == nil:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, "NotExported", "the export is not valid: see the Valid condition"
	case s.importErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, s.importErr.Reason, s.importErr.Message
	case len(s.res.Conflicts) == 0:
		c.Status, c.Reason = metav1.ConditionFalse, string(mcsv1alpha1.ServiceExportReasonNoConflicts)
		c.Message = fmt.Sprintf("the %d export(s) of this service in the clusterset agree", len(s.res.Members))
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, conflictReason(s.res.Conflicts[0]), s.res.conflictMessage()
	}
	return c
}

func conflictReason(field string) string {
	switch field {
	case fieldPorts:
		return string(mcsv1alpha1.ServiceExportReasonPortConflict)
	case fieldType:
		return string(mcsv1alpha1.ServiceExportReasonTypeConflict)
	case fieldSessionAffinity:
		return string(mcsv1alpha1.ServiceExportReasonSessionAffinityConflict)
	}
	return string(mcsv1alpha1.ServiceExportReasonSessionAffinityConfigConflict)
}

// writeExportStatus writes this cluster's ServiceExport's conditions, and nothing when they
// are as they were.
func (r *clustersetReconciler) writeExportStatus(ctx context.Context, s *clustersetScope) error {
	if s.export == nil {
		return nil
	}
	se := s.export.DeepCopy()
	for _, c := range []metav1.Condition{s.valid, conflictCondition(s)} {
		c.ObservedGeneration = se.Generation
		meta.SetStatusCondition(&se.Status.Conditions, c)
	}
	if apiequality.Semantic.DeepEqual(se.Status, s.export.Status) {
		return nil
	}
	// A patch, as the ServiceImport's status (applyServiceImport).
	if err := r.client.Status().Patch(ctx, se, client.MergeFrom(s.export)); err != nil {
		return fmt.Errorf("writing the conditions of ServiceExport %s: %w", s.key, err)
	}
	return nil
}

// conditionSummary is "Type=Status (Reason)" of each condition, for test failures.
func conditionSummary(cs []metav1.Condition) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, "; ")
}

// readyCondition says whether the ServiceImport has its ClusterSetIP, where it is from, and
// if it has none, why and what fixes it (clusterset_ips.go). derived is the derived Service,
// or the one that could not be made.
func readyCondition(s *clustersetScope, derived *corev1.Service) metav1.Condition {
	c := metav1.Condition{Type: string(mcsv1alpha1.ServiceImportConditionReady), Status: metav1.ConditionTrue, Reason: string(mcsv1alpha1.ServiceImportReasonReady)}
	ip := derived.Spec.ClusterIP
	switch r, inRange := inRanges(s.ranges, ip); {
	case s.res.Headless:
		c.Message = fmt.Sprintf("headless: no ClusterSetIP; %s.%s.svc.clusterset.local answers with the members' ready pods", s.key.Name, s.key.Namespace)
	case ip == "" && s.ipErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, s.ipErr.Reason, s.ipErr.Message
	case ip == "":
		c.Status, c.Reason = metav1.ConditionUnknown, string(mcsv1alpha1.ServiceImportReasonPending)
		c.Message = fmt.Sprintf("the derived Service %s/%s has no cluster IP yet", s.key.Namespace, s.derived)
	case !s.rangesServed:
		c.Reason = reasonServiceRange
		c.Message = fmt.Sprintf("the ClusterSetIP %s is from the cluster's service range: this cluster serves no ServiceCIDR API (Kubernetes before 1.33) for a range of its own", ip)
	case inRange:
		c.Message = fmt.Sprintf("the ClusterSetIP %s is from %s", ip, r)
	default:
		c.Reason = reasonOutsideRange
		c.Message = fmt.Sprintf("the ClusterSetIP %s lies in no ServiceCIDR labelled %s=true (the derived Service %s/%s is older than the range) and is kept, as a cluster IP cannot change: delete that Service to have one from the range, which breaks the connections to the old address",
			ip, mcv1alpha1.LabelClusterSetIPRange, s.key.Namespace, s.derived)
	}
	return c
}
