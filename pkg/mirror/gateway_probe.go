package mirror

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// gatewayProbes probe each Link's remote gateway over HTTP, as the Link's spec.probe says: a
// gateway that fails FailureThreshold probes in a row is dead, and its Link's gateway mirrors
// go not ready until it answers again. A Link without spec.probe is not probed, and its
// gateway counts as alive.
//
// Gossip, when the link controller has it, comes first: while the gossip pool knows a Link's
// cluster, its word is the gateway's liveness, seen in about a second; the probe counts only
// for clusters the pool does not know.
type gatewayProbes struct {
	log     *slog.Logger
	changed func(types.NamespacedName)
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	members *gossipView // nil without gossip

	mu       sync.Mutex
	links    map[types.NamespacedName]*gatewayProbe
	clusters map[types.NamespacedName]string // every Link's target cluster
	lastSeen map[types.NamespacedName]bool   // the liveness the link controller last acted on
}

// gatewayLiveness is what the controller knows of a Link's gateway.
type gatewayLiveness struct {
	// known is false when neither gossip nor a probe says anything: the gateway counts as
	// alive, and the Link has no GatewayAlive condition.
	known, alive    bool
	since           time.Time
	reason, message string
}

// gatewayProbe is the running probe of one Link's gateway.
type gatewayProbe struct {
	spec   string
	cancel context.CancelFunc

	mu      sync.Mutex
	alive   bool
	since   time.Time
	lastErr error
}

func newGatewayProbes(log *slog.Logger, changed func(types.NamespacedName), dial func(ctx context.Context, network, addr string) (net.Conn, error)) *gatewayProbes {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &gatewayProbes{log: log, changed: changed, dial: dial, links: map[types.NamespacedName]*gatewayProbe{},
		clusters: map[types.NamespacedName]string{}, lastSeen: map[types.NamespacedName]bool{}}
}

// clusterChanged tells every Link of cluster that gossip changed its mind.
func (g *gatewayProbes) clusterChanged(cluster string) {
	g.mu.Lock()
	var keys []types.NamespacedName
	for k, c := range g.clusters {
		if c == cluster {
			keys = append(keys, k)
		}
	}
	g.mu.Unlock()
	for _, k := range keys {
		g.changed(k)
	}
}

// liveness is what gossip, else the probe, says of key's gateway.
func (g *gatewayProbes) liveness(key types.NamespacedName) gatewayLiveness {
	g.mu.Lock()
	p, cluster := g.links[key], g.clusters[key]
	g.mu.Unlock()
	if g.members != nil {
		if v, ok := g.members.cluster(cluster); ok {
			lv := gatewayLiveness{known: true, alive: v.alive, since: v.since, reason: "MemberAlive",
				message: "a gateway of " + cluster + " is alive in the gossip pool"}
			if !v.alive {
				lv.reason = "MemberDead"
				lv.message = "every gateway of " + cluster + " is dead in the gossip pool: its mirrors' endpoints are not ready"
			}
			return lv
		}
	}
	if p == nil {
		return gatewayLiveness{alive: true}
	}
	alive, since, lastErr := p.state()
	lv := gatewayLiveness{known: true, alive: alive, since: since, reason: "ProbeSucceeded", message: "the remote gateway answers its probe"}
	if !alive {
		lv.reason = "ProbeFailed"
		lv.message = fmt.Sprintf("the remote gateway failed spec.probe.failureThreshold probes in a row: its mirrors' endpoints are not ready; last: %v", lastErr)
	}
	return lv
}

// seenChange tells whether key's liveness changed since the link controller last asked.
func (g *gatewayProbes) seenChange(key types.NamespacedName) bool {
	alive := g.liveness(key).alive
	g.mu.Lock()
	defer g.mu.Unlock()
	last, ok := g.lastSeen[key]
	g.lastSeen[key] = alive
	return ok && last != alive || !ok && !alive
}

// probeSpec is what a probe runs with; a changed Link restarts its probe.
func probeSpec(link *mcv1alpha1.Link) string {
	p := link.Spec.Probe
	if p == nil || len(link.Spec.GatewayAddresses) == 0 {
		return ""
	}
	return fmt.Sprintf("%v %d %s %s %d", link.Spec.GatewayAddresses, p.Port, p.Path, p.Period.Duration, p.FailureThreshold)
}

// ensure runs link's probe as its spec says, restarting it when the spec changed.
func (g *gatewayProbes) ensure(link *mcv1alpha1.Link) *gatewayProbe {
	key := types.NamespacedName{Namespace: link.Namespace, Name: link.Name}
	spec := probeSpec(link)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clusters[key] = link.Spec.TargetClusterName
	cur := g.links[key]
	if cur != nil && cur.spec == spec {
		return cur
	}
	if cur != nil {
		cur.cancel()
		delete(g.links, key)
	}
	if spec == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Alive until proven dead: a restarted controller must not take every mirror down first.
	p := &gatewayProbe{spec: spec, cancel: cancel, alive: true, since: time.Now()}
	g.links[key] = p
	go g.run(ctx, key, link.Spec.GatewayAddresses, *link.Spec.Probe, p)
	return p
}

// stop ends link's probe.
func (g *gatewayProbes) stop(key types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.clusters, key)
	delete(g.lastSeen, key)
	if p := g.links[key]; p != nil {
		p.cancel()
		delete(g.links, key)
	}
}

// alive tells whether link's gateway is alive: true when nothing says otherwise.
func (g *gatewayProbes) alive(key types.NamespacedName) bool { return g.liveness(key).alive }

func (p *gatewayProbe) state() (alive bool, since time.Time, lastErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alive, p.since, p.lastErr
}

func (p *gatewayProbe) set(alive bool, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	if p.alive == alive {
		return false
	}
	p.alive, p.since = alive, time.Now()
	return true
}

func (g *gatewayProbes) run(ctx context.Context, key types.NamespacedName, addrs []string, spec mcv1alpha1.ProbeSpec, p *gatewayProbe) {
	period := spec.Period.Duration
	if period <= 0 {
		period = 3 * time.Second
	}
	threshold := int(spec.FailureThreshold)
	if threshold <= 0 {
		threshold = 3
	}
	port, path := spec.Port, spec.Path
	if port == 0 {
		port = 4191
	}
	if path == "" {
		path = "/ready"
	}
	// A probe answers within a period or counts as failed, so that failures stay one a period.
	client := &http.Client{
		Timeout: min(period, 2*time.Second),
		// A fresh connection each probe: a gateway that is gone must not look alive through a
		// kept-alive connection to a dying process.
		Transport: &http.Transport{DialContext: g.dial, DisableKeepAlives: true},
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := probeAny(ctx, client, addrs, strconv.Itoa(int(port)), path)
		if ctx.Err() != nil {
			return
		}
		alive, _, _ := p.state()
		if err == nil {
			failures = 0
			alive = true
		} else if failures++; failures >= threshold {
			alive = false
		}
		if p.set(alive, err) {
			g.log.Info("remote gateway liveness changed", "link", key.String(), "alive", alive, "err", err)
			g.changed(key)
		}
	}
}

// probeAny is nil when one of the gateway's addresses answers path with a 2xx.
func probeAny(ctx context.Context, client *http.Client, addrs []string, port, path string) error {
	var errs []string
	for _, a := range addrs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(a, port)+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		errs = append(errs, fmt.Sprintf("%s answered %s", req.URL, resp.Status))
	}
	return fmt.Errorf("no gateway address answered the probe: %s", strings.Join(errs, "; "))
}
