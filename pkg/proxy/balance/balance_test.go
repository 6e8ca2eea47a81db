package balance

import (
	"testing"
	"time"
)

func TestPickEmpty(t *testing.T) {
	if _, err := New[string]().Pick(); err != ErrNoEndpoints {
		t.Fatalf("Pick on no endpoints = %v; want ErrNoEndpoints", err)
	}
}

// A slow endpoint gets much less than a fast one once both are measured.
func TestPickPrefersFast(t *testing.T) {
	b := New[string]()
	clock := time.Unix(0, 0)
	b.now = func() time.Time { return clock }
	b.Update(map[string]string{"fast": "fast", "slow": "slow"})
	counts := map[string]int{}
	for range 2000 {
		h, err := b.Pick()
		if err != nil {
			t.Fatal(err)
		}
		counts[h.Key]++
		if h.Key == "slow" {
			clock = clock.Add(50 * time.Millisecond)
		} else {
			clock = clock.Add(time.Millisecond)
		}
		h.Done(false)
	}
	if counts["slow"]*10 > counts["fast"] {
		t.Errorf("picks %v: the slow endpoint got more than a tenth of the fast one's", counts)
	}
}

// Requests in flight count: with equal latency, an endpoint holding many pending requests is
// passed over.
func TestPickAvoidsPending(t *testing.T) {
	b := New[int]()
	b.Update(map[string]int{"a": 1, "b": 2})
	var held []*Handle[int]
	for range 10 {
		h, _ := b.Pick()
		held = append(held, h)
	}
	counts := map[string]int{}
	for _, h := range held {
		counts[h.Key]++
	}
	if d := counts["a"] - counts["b"]; d > 2 || d < -2 {
		t.Errorf("10 requests held open went %v; want them spread evenly", counts)
	}
}

// Update keeps what was learnt of endpoints that stay and drops the rest.
func TestUpdateKeepsState(t *testing.T) {
	b := New[string]()
	b.Update(map[string]string{"a": "a", "b": "b"})
	h, _ := b.Pick()
	kept := h.Key
	b.Update(map[string]string{kept: "new value", "c": "c"})
	if b.Len() != 2 || b.byKey[kept] != h.e || b.byKey[kept].value != "new value" {
		t.Errorf("after Update: %d endpoints, state of %s kept: %v", b.Len(), kept, b.byKey[kept] == h.e)
	}
	h.Done(false) // on an endpoint still there: no panic, counts settle
	if p := h.e.pending.Load(); p != 0 {
		t.Errorf("pending = %d after Done", p)
	}
}

func BenchmarkPick(b *testing.B) {
	bal := New[int]()
	eps := map[string]int{}
	for i := range 16 {
		eps[string(rune('a'+i))] = i
	}
	bal.Update(eps)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h, _ := bal.Pick()
			h.Done(false)
		}
	})
}
