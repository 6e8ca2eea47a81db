package mirror

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// clustersetMember is one cluster's export of a clusterset service: this cluster's own, read
// from its ServiceExport and Service, or a linked cluster's, read from the annotations of its
// slice here (desiredMember wrote them from the remote's).
type clustersetMember struct {
	Cluster string
	Local   bool
	Export  mcv1alpha1.Export
	Ports   []corev1.ServicePort
}

// The fields exports of one clusterset service may disagree on (KEP-1645), as the Conflict
// condition names them.
const (
	fieldPorts                 = "ports"
	fieldType                  = "type"
	fieldSessionAffinity       = "sessionAffinity"
	fieldSessionAffinityConfig = "sessionAffinityConfig"
)

// resolution is the clusterset service the members make: the oldest export's type and
// session affinity, the union of every member's ports (the oldest member's where two
// disagree), and the fields on which some member disagrees.
type resolution struct {
	// Members, oldest export first; Members[0] wins every conflict.
	Members         []clustersetMember
	Headless        bool
	Ports           []corev1.ServicePort
	SessionAffinity corev1.ServiceAffinity
	AffinityTimeout int32
	// Conflicts are the fields some member disagrees on, in the order above.
	Conflicts []string
}

// resolve applies KEP-1645's conflict resolution: the export created first wins, and a tie
// goes to the cluster whose name sorts first, so that every cluster resolves alike.
func resolve(members []clustersetMember) resolution {
	ms := append([]clustersetMember(nil), members...)
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].Export.Created.Equal(ms[j].Export.Created) {
			return ms[i].Export.Created.Before(ms[j].Export.Created)
		}
		return ms[i].Cluster < ms[j].Cluster
	})
	res := resolution{Members: ms}
	if len(ms) == 0 {
		return res
	}
	oldest := ms[0].Export
	res.Headless, res.SessionAffinity, res.AffinityTimeout = oldest.Headless, oldest.SessionAffinity, oldest.AffinityTimeout
	all := make([][]corev1.ServicePort, 0, len(ms))
	for _, m := range ms {
		all = append(all, m.Ports)
	}
	res.Ports = unionPorts(all)
	conflict := map[string]bool{}
	for _, m := range ms[1:] {
		conflict[fieldType] = conflict[fieldType] || m.Export.Headless != oldest.Headless
		conflict[fieldSessionAffinity] = conflict[fieldSessionAffinity] || m.Export.SessionAffinity != oldest.SessionAffinity
		conflict[fieldSessionAffinityConfig] = conflict[fieldSessionAffinityConfig] ||
			(m.Export.SessionAffinity == oldest.SessionAffinity && m.Export.AffinityTimeout != oldest.AffinityTimeout)
	}
	for _, m := range ms {
		conflict[fieldPorts] = conflict[fieldPorts] || portsConflict(m.Ports, res.Ports)
	}
	for _, f := range []string{fieldPorts, fieldType, fieldSessionAffinity, fieldSessionAffinityConfig} {
		if conflict[f] {
			res.Conflicts = append(res.Conflicts, f)
		}
	}
	return res
}

// portsConflict says whether one of ports is not in union as it is: its number there under
// another name, or its name on another number. An unnamed port is the one of its number
// (unionPorts names it when the union has several).
func portsConflict(ports, union []corev1.ServicePort) bool {
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		for _, u := range union {
			sameNumber := u.Port == p.Port && u.Protocol == proto
			switch {
			case sameNumber && p.Name != "" && u.Name != p.Name:
				return true
			case !sameNumber && p.Name != "" && u.Name == p.Name:
				return true
			}
		}
	}
	return false
}

// winner describes the oldest export, for messages.
func (res resolution) winner() string {
	m := res.Members[0]
	where := "cluster " + m.Cluster
	if m.Local {
		where = "this cluster (" + m.Cluster + ")"
	}
	return fmt.Sprintf("the oldest export, in %s, created %s", where, m.Export.Created.Format("2006-01-02T15:04:05Z"))
}

// importType is the ServiceImport's type the resolution makes.
func (res resolution) importType() string {
	if res.Headless {
		return "Headless"
	}
	return "ClusterSetIP"
}

// conflictMessage says which fields disagree and what was chosen.
func (res resolution) conflictMessage() string {
	var what []string
	for _, f := range res.Conflicts {
		switch f {
		case fieldPorts:
			what = append(what, "ports (the union is "+mcv1alpha1.FormatRemotePorts(res.Ports)+")")
		case fieldType:
			what = append(what, "type (taken: "+res.importType()+")")
		case fieldSessionAffinity:
			what = append(what, "sessionAffinity (taken: "+string(res.SessionAffinity)+")")
		case fieldSessionAffinityConfig:
			what = append(what, fmt.Sprintf("sessionAffinityConfig (taken: timeoutSeconds %d)", res.AffinityTimeout))
		}
	}
	return fmt.Sprintf("the exports of this service in the clusterset disagree on %s: %s wins; make the exported Services agree", strings.Join(what, ", "), res.winner())
}
