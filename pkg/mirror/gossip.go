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
// every change. A failed fetch forgets every cluster: the probes judge again.
type gossipView struct {
	fetch   func(context.Context) ([]GatewayMember, error)
	every   time.Duration
	changed func(cluster string)
	log     *slog.Logger

	mu       sync.Mutex
	clusters map[string]clusterLiveness
}

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
	tick := time.NewTicker(v.every)
	defer tick.Stop()
	failing := false
	for {
		fctx, cancel := context.WithTimeout(ctx, v.every)
		members, err := v.fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !failing {
			v.log.Warn("gossip view unavailable: the gateways' probes judge", "error", err)
		}
		failing = err != nil
		v.update(members, err == nil, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
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
