package balance

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoEndpoints is Pick's error when there is nothing to pick.
var ErrNoEndpoints = errors.New("no endpoints")

// decay is how fast the latency average forgets: about this long for a sample to weigh 1/e.
const decay = 10 * time.Second

// defaultRTT is the latency assumed of an endpoint never measured: low enough that new
// endpoints get tried, not so low that one absorbs everything.
const defaultRTT = time.Millisecond

// Balancer holds endpoints of type T, keyed by a string, and picks among them.
type Balancer[T any] struct {
	mu      sync.RWMutex
	entries []*entry[T]
	byKey   map[string]*entry[T]
	now     func() time.Time
}

type entry[T any] struct {
	key     string
	value   T
	pending atomic.Int64

	mu    sync.Mutex
	ewma  float64 // nanoseconds
	stamp time.Time
}

// New returns an empty balancer.
func New[T any]() *Balancer[T] {
	return &Balancer[T]{byKey: map[string]*entry[T]{}, now: time.Now}
}

// Update makes the endpoints those given, keeping what was learnt of those that stay.
func (b *Balancer[T]) Update(endpoints map[string]T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := make([]*entry[T], 0, len(endpoints))
	byKey := make(map[string]*entry[T], len(endpoints))
	for k, v := range endpoints {
		e, ok := b.byKey[k]
		if !ok {
			e = &entry[T]{key: k, ewma: float64(defaultRTT), stamp: b.now()}
		}
		e.value = v
		entries = append(entries, e)
		byKey[k] = e
	}
	b.entries, b.byKey = entries, byKey
}

// Len is how many endpoints there are.
func (b *Balancer[T]) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.entries)
}

// Handle is one pick: call Done once when the request or connection is over.
type Handle[T any] struct {
	Value T
	Key   string
	e     *entry[T]
	start time.Time
	b     *Balancer[T]
}

// Pick chooses an endpoint.
func (b *Balancer[T]) Pick() (*Handle[T], error) {
	b.mu.RLock()
	var e *entry[T]
	switch n := len(b.entries); n {
	case 0:
		b.mu.RUnlock()
		return nil, ErrNoEndpoints
	case 1:
		e = b.entries[0]
	default:
		i := rand.IntN(n)
		j := rand.IntN(n - 1)
		if j >= i {
			j++
		}
		x, y := b.entries[i], b.entries[j]
		now := b.now()
		if x.cost(now) <= y.cost(now) {
			e = x
		} else {
			e = y
		}
	}
	b.mu.RUnlock()
	e.pending.Add(1)
	return &Handle[T]{Value: e.value, Key: e.key, e: e, start: b.now(), b: b}, nil
}

// Done records how long the pick took to answer (for a request, until its response headers;
// for a connection, its connect time) and that it is no longer in flight. A failure counts
// as slow, so that a failing endpoint is picked less.
func (h *Handle[T]) Done(failed bool) {
	h.e.pending.Add(-1)
	rtt := h.b.now().Sub(h.start)
	if failed {
		rtt = max(rtt, time.Second)
	}
	h.e.observe(h.b.now(), rtt)
}

func (e *entry[T]) observe(now time.Time, rtt time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sample := float64(rtt)
	if sample > e.ewma {
		// Peak sensitive: a latency spike is taken at once, recovery is gradual.
		e.ewma = sample
	} else {
		w := math.Exp(-float64(now.Sub(e.stamp)) / float64(decay))
		e.ewma = e.ewma*w + sample*(1-w)
	}
	e.stamp = now
}

func (e *entry[T]) cost(now time.Time) float64 {
	e.mu.Lock()
	ewma := e.ewma
	e.mu.Unlock()
	return ewma * float64(e.pending.Load()+1)
}
