package mirror

import (
	"slices"
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
	// clock is time.Now and time.AfterFunc, but for tests.
	clock clock

	mu     sync.Mutex
	byLink map[types.NamespacedName]map[types.NamespacedName]mcv1alpha1.ServiceStatus
	// due holds, for each Link whose status write is scheduled, when its first and its last
	// unwritten change came.
	due map[types.NamespacedName]*burst
}

type burst struct{ first, last time.Time }

// The Link's status holds one entry per export, and what a write costs the apiserver grows with
// it (decoding, schema validation, managed fields). Writing every half second through a burst
// of a thousand exports took about a third of the apiservers' CPU and slowed the mirroring
// itself by half (go run ./bench/mirror). So a write goes out once changes pause for
// statusQuiet, and at the latest statusMaxDelay after the first unwritten change.
const (
	statusQuiet    = 500 * time.Millisecond
	statusMaxDelay = 5 * time.Second
)

type clock interface {
	Now() time.Time
	AfterFunc(time.Duration, func())
}

type realClock struct{}

func (realClock) Now() time.Time                      { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

func newStatuses(changed func(types.NamespacedName), clk clock) *statuses {
	return &statuses{
		changed: changed,
		clock:   clk,
		byLink:  map[types.NamespacedName]map[types.NamespacedName]mcv1alpha1.ServiceStatus{},
		due:     map[types.NamespacedName]*burst{},
	}
}

// schedule tells the link controller of link's changes, once, when they pause.
func (s *statuses) schedule(link types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if b := s.due[link]; b != nil {
		b.last = now
		return
	}
	s.due[link] = &burst{first: now, last: now}
	s.clock.AfterFunc(statusQuiet, func() { s.fire(link) })
}

// fire tells the link controller of link's changes if they paused or waited long enough, and
// otherwise looks again when they might have.
func (s *statuses) fire(link types.NamespacedName) {
	s.mu.Lock()
	b := s.due[link]
	now := s.clock.Now()
	quietIn := statusQuiet - now.Sub(b.last)
	deadlineIn := statusMaxDelay - now.Sub(b.first)
	if wait := min(quietIn, deadlineIn); wait > 0 {
		s.mu.Unlock()
		s.clock.AfterFunc(wait, func() { s.fire(link) })
		return
	}
	delete(s.due, link)
	s.mu.Unlock()
	s.changed(link)
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
	// A copy: SetStatusCondition changes the slice in place, and old must stay as it was to
	// be compared.
	st := mcv1alpha1.ServiceStatus{Namespace: key.Namespace, Name: key.Name, Mirror: mirror, Conditions: slices.Clone(old.Conditions)}
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
