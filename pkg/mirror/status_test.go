package mirror

import (
	"sort"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// manualClock runs the functions given to AfterFunc when the test moves time past them.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []timer
}

type timer struct {
	at time.Time
	f  func()
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, timer{c.now.Add(d), f})
}

// step moves time on by d, running what falls due on the way in order.
func (c *manualClock) step(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.pending, func(i, j int) bool { return c.pending[i].at.Before(c.pending[j].at) })
		if len(c.pending) == 0 || c.pending[0].at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.pending[0]
		c.pending = c.pending[1:]
		c.now = t.at
		c.mu.Unlock()
		t.f()
	}
}

func TestStatusWritesGatherBursts(t *testing.T) {
	link := types.NamespacedName{Namespace: "mesh-multicluster", Name: "east"}
	tests := []struct {
		name string
		// changes come every `every`, `count` of them; then time runs on for `after`.
		every time.Duration
		count int
		after time.Duration
		// writes are the times, from the first change, at which the Link's status is due.
		writes []time.Duration
	}{
		{name: "one change is written once it is quiet", every: 0, count: 1, after: time.Second, writes: []time.Duration{statusQuiet}},
		{name: "a quick burst is one write", every: time.Millisecond, count: 300, after: time.Second, writes: []time.Duration{299*time.Millisecond + statusQuiet}},
		{name: "a long burst is written every statusMaxDelay", every: 100 * time.Millisecond, count: 120, after: time.Second,
			writes: []time.Duration{statusMaxDelay, 2 * statusMaxDelay, 11900*time.Millisecond + statusQuiet}},
		{name: "changes apart are written apart", every: 2 * statusQuiet, count: 2, after: time.Second, writes: []time.Duration{statusQuiet, 3 * statusQuiet}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &manualClock{now: time.Unix(0, 0)}
			start := clk.now
			var writes []time.Duration
			s := newStatuses(func(l types.NamespacedName) {
				if l != link {
					t.Errorf("status due for %s, want %s", l, link)
				}
				writes = append(writes, clk.now.Sub(start))
			}, clk)
			for i := range tt.count {
				if i > 0 {
					clk.step(tt.every)
				}
				// A message of its own each time, so that every call is a change.
				s.set(mirrorKey{Link: link, Namespace: "default", Name: "web"}, "web-east", metav1.ConditionTrue, "Mirrored", time.Duration(i).String())
			}
			clk.step(tt.after + statusMaxDelay)
			if len(writes) != len(tt.writes) {
				t.Fatalf("status written at %v, want at %v", writes, tt.writes)
			}
			for i := range writes {
				if writes[i] != tt.writes[i] {
					t.Errorf("status written at %v, want at %v", writes, tt.writes)
					break
				}
			}
		})
	}
}
