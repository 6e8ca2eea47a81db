package mirror

import (
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// statuses is what the mirror controller last concluded for each export, read by the link
// controller into the Link's status. It is rebuilt from scratch after a restart, as every
// export is reconciled again.
type statuses struct {
	// changed tells the link controller a Link's status is due.
	changed func(types.NamespacedName)

	mu     sync.Mutex
	byLink map[types.NamespacedName]map[types.NamespacedName]mcv1alpha1.ServiceStatus
	// due holds the Links whose status write is already scheduled.
	due map[types.NamespacedName]bool
}

// statusDelay gathers the changes of a burst (a thousand exports at once) into a few writes
// of the Link's status, which holds one entry per export, instead of one write per export.
const statusDelay = 500 * time.Millisecond

func newStatuses(changed func(types.NamespacedName)) *statuses {
	return &statuses{
		changed: changed,
		byLink:  map[types.NamespacedName]map[types.NamespacedName]mcv1alpha1.ServiceStatus{},
		due:     map[types.NamespacedName]bool{},
	}
}

// schedule tells the link controller of link's changes, once, a little later.
func (s *statuses) schedule(link types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.due[link] {
		return
	}
	s.due[link] = true
	time.AfterFunc(statusDelay, func() {
		s.mu.Lock()
		delete(s.due, link)
		s.mu.Unlock()
		s.changed(link)
	})
}

func (s *statuses) set(key mirrorKey, mirror string, status metav1.ConditionStatus, reason, message string) {
	s.mu.Lock()
	m := s.byLink[key.Link]
	if m == nil {
		m = map[types.NamespacedName]mcv1alpha1.ServiceStatus{}
		s.byLink[key.Link] = m
	}
	name := types.NamespacedName{Namespace: key.Namespace, Name: key.Name}
	old, had := m[name]
	st := mcv1alpha1.ServiceStatus{Namespace: key.Namespace, Name: key.Name, Mirror: mirror, Conditions: old.Conditions}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: mcv1alpha1.ServiceMirrored, Status: status, Reason: reason, Message: message})
	m[name] = st
	changed := !had || old.Mirror != mirror || !sameCondition(old.Conditions, st.Conditions)
	s.mu.Unlock()
	if changed {
		s.schedule(key.Link)
	}
}

func sameCondition(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason || a[i].Message != b[i].Message {
			return false
		}
	}
	return true
}

func (s *statuses) forget(key mirrorKey) {
	s.mu.Lock()
	name := types.NamespacedName{Namespace: key.Namespace, Name: key.Name}
	_, had := s.byLink[key.Link][name]
	delete(s.byLink[key.Link], name)
	s.mu.Unlock()
	if had {
		s.schedule(key.Link)
	}
}

func (s *statuses) dropLink(link types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byLink, link)
}

// of returns a Link's services, sorted, and how many are mirrored.
func (s *statuses) of(link types.NamespacedName) ([]mcv1alpha1.ServiceStatus, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mcv1alpha1.ServiceStatus
	var mirrored int32
	for _, st := range s.byLink[link] {
		out = append(out, *st.DeepCopy())
		if meta.IsStatusConditionTrue(st.Conditions, mcv1alpha1.ServiceMirrored) {
			mirrored++
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, mirrored
}
