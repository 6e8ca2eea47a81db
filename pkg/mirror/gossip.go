package mirror

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// GatewayMember is one member of the gateways' gossip pool, as the local gateway reports it
// (pkg/membership's Status).
type GatewayMember struct {
	Cluster string `json:"cluster"`
	// State is alive, suspect, dead or left (membership.State's names).
	State string `json:"state"`
}

// gossipView polls the pool's view through fetch and keeps, per cluster, whether some
// gateway of it is alive (Alive or Suspect, as membership.ClusterAlive), telling changed of
// every change. Once reads have failed for unreadableAfter, it forgets every cluster: the
// probes judge again.
type gossipView struct {
	fetch   func(context.Context) ([]GatewayMember, error)
	every   time.Duration
	changed func(cluster string)
	log     *slog.Logger

	mu       sync.Mutex
	clusters map[string]clusterLiveness
	// failingSince is when reads began to fail; zero while they succeed.
	failingSince time.Time
}

// A read of the view waits at most fetchTimeout, however often it is polled: the local
// gateway answers in a millisecond, and a read slower than this is a failed one.
// unreadableAfter is how long reads must fail before the view is dropped: one failed read
// (a gateway restarting, a slow node) must not hand every Link to its probe and back,
// rewriting each Link's status twice, while a gone gateway hands them over in a second.
const (
	fetchTimeout    = time.Second
	unreadableAfter = time.Second
)

type clusterLiveness struct {
	alive bool
	since time.Time
}

func (v *gossipView) cluster(name string) (clusterLiveness, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.clusters[name]
	return c, ok
}

// Start polls until ctx ends: a manager.Runnable.
func (v *gossipView) Start(ctx context.Context) error {
	// A tick missed while a read is slow is dropped, not queued: reads never pile up.
	tick := time.NewTicker(v.every)
	defer tick.Stop()
	for {
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		members, err := v.fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		v.read(members, err, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// read takes the outcome of one read of the view.
func (v *gossipView) read(members []GatewayMember, err error, now time.Time) {
	if err == nil {
		v.mu.Lock()
		v.failingSince = time.Time{}
		v.mu.Unlock()
		v.update(members, true, now)
		return
	}
	v.mu.Lock()
	if v.failingSince.IsZero() {
		v.failingSince = now
		v.log.Warn("gossip view unreadable: the gateways' probes judge if it stays so", "error", err, "after", unreadableAfter)
	}
	stale := now.Sub(v.failingSince) >= unreadableAfter
	v.mu.Unlock()
	if stale {
		v.update(nil, false, now)
	}
}

// update takes a new view (none when !ok) and tells of each cluster that changed.
func (v *gossipView) update(members []GatewayMember, ok bool, now time.Time) {
	next := map[string]bool{}
	if ok {
		for _, m := range members {
			next[m.Cluster] = next[m.Cluster] || strings.EqualFold(m.State, "alive") || strings.EqualFold(m.State, "suspect")
		}
	}
	var changed []string
	v.mu.Lock()
	if v.clusters == nil {
		v.clusters = map[string]clusterLiveness{}
	}
	for c, alive := range next {
		if cur, known := v.clusters[c]; !known || cur.alive != alive {
			v.clusters[c] = clusterLiveness{alive: alive, since: now}
			changed = append(changed, c)
		}
	}
	for c := range v.clusters {
		if _, still := next[c]; !still {
			delete(v.clusters, c)
			changed = append(changed, c)
		}
	}
	v.mu.Unlock()
	for _, c := range changed {
		v.changed(c)
	}
}
