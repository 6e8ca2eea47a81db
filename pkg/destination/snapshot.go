package destination

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
)

// snapshot is one version of a view's state. It is never changed once published: every
// subscriber reads it without a lock, and endpoints that did not change are shared with the
// previous version.
type snapshot struct {
	version uint64
	state
	// add and remove turn version-1 into this one (nil when nothing of the kind changed); a
	// subscriber that sent version-1 sends them as they are, shared by all.
	add, remove *destinationv1.Update
	// cause is when the earliest informer event folded into this version was seen; zero for
	// a first version, which no event caused.
	cause time.Time

	fullOnce sync.Once
	full     *destinationv1.Update
}

// fullUpdate is the first Update for a subscriber: every endpoint, or NoEndpoints. Made once
// per snapshot, however many subscribers join.
func (s *snapshot) fullUpdate() *destinationv1.Update {
	s.fullOnce.Do(func() {
		if len(s.endpoints) == 0 {
			s.full = noEndpoints(s.exists)
			return
		}
		s.full = addUpdate(sortedEndpoints(s.endpoints))
	})
	return s.full
}

// view is one target's state as every subscriber of it shares it: a Service port, or a pod
// IP:port.
type view struct {
	key viewKey
	cur atomic.Pointer[snapshot]
	// subs are the subscribers following the view; guarded by the index's mutex.
	subs map[*subscriber]struct{}
}

// viewKey names a view. A Service port's has service set; a pod IP:port's has addr set; the
// none view (not in the mesh) has neither.
type viewKey struct {
	service serviceKey
	port    int32
	addr    netip.AddrPort
}

func newView(key viewKey, st state) *view {
	v := &view{key: key, subs: map[*subscriber]struct{}{}}
	v.cur.Store(&snapshot{version: 1, state: st})
	return v
}

// publish makes next the view's state if it differs from the current one, reusing the
// endpoints that did not change, and tells every subscriber. It reports whether anything
// changed. The caller holds the index's mutex, so publishes of one view are in order.
func (v *view) publish(next state, cause time.Time) bool {
	cur := v.cur.Load()
	var added []*destinationv1.Endpoint
	var removed []*destinationv1.SocketAddress
	for ap, e := range next.endpoints {
		if old, ok := cur.endpoints[ap]; ok && proto.Equal(old, e) {
			next.endpoints[ap] = old // shared: one copy in memory, whatever the versions
			continue
		}
		added = append(added, e)
	}
	for ap, e := range cur.endpoints {
		if _, ok := next.endpoints[ap]; !ok {
			removed = append(removed, e.GetAddress())
		}
	}
	if len(added) == 0 && len(removed) == 0 && next.exists == cur.exists {
		return false
	}
	s := &snapshot{version: cur.version + 1, state: next, cause: cause}
	if len(added) > 0 {
		slices.SortFunc(added, compareEndpoints)
		s.add = addUpdate(added)
	}
	if len(removed) > 0 {
		slices.SortFunc(removed, compareAddresses)
		s.remove = &destinationv1.Update{Update: &destinationv1.Update_Remove{Remove: &destinationv1.Remove{Addresses: removed}}}
	}
	v.cur.Store(s)
	for sub := range v.subs {
		sub.wake()
	}
	return true
}

// sent is what a subscriber last sent: the view and the version of it.
type sent struct {
	view *view
	snap *snapshot
}

// updatesBetween returns the Updates that take a proxy holding prev (nothing, if prev.snap is
// nil) to s of v. A subscriber that sent the previous version of the same view gets the
// shared delta; any other (it fell behind, or its address now resolves to another view) gets
// the difference computed for it.
func updatesBetween(prev sent, v *view, s *snapshot) []*destinationv1.Update {
	switch {
	case prev.snap == nil:
		return []*destinationv1.Update{s.fullUpdate()}
	case prev.view == v && prev.snap == s:
		return nil
	case len(s.endpoints) == 0:
		if len(prev.snap.endpoints) > 0 || prev.snap.exists != s.exists {
			return []*destinationv1.Update{noEndpoints(s.exists)}
		}
		return nil
	case len(prev.snap.endpoints) == 0:
		return []*destinationv1.Update{s.fullUpdate()}
	case prev.view == v && s.version == prev.snap.version+1:
		return nonNil(s.add, s.remove)
	}
	var added []*destinationv1.Endpoint
	var removed []*destinationv1.SocketAddress
	for ap, e := range s.endpoints {
		if old, ok := prev.snap.endpoints[ap]; !ok || (old != e && !proto.Equal(old, e)) {
			added = append(added, e)
		}
	}
	for ap, e := range prev.snap.endpoints {
		if _, ok := s.endpoints[ap]; !ok {
			removed = append(removed, e.GetAddress())
		}
	}
	var out []*destinationv1.Update
	// Adds first: a proxy never holds an empty set in between when endpoints are replaced.
	if len(added) > 0 {
		slices.SortFunc(added, compareEndpoints)
		out = append(out, addUpdate(added))
	}
	if len(removed) > 0 {
		slices.SortFunc(removed, compareAddresses)
		out = append(out, &destinationv1.Update{Update: &destinationv1.Update_Remove{Remove: &destinationv1.Remove{Addresses: removed}}})
	}
	return out
}

// nonNil returns the add, then the remove, leaving out nil ones: adds first, as above.
func nonNil(add, remove *destinationv1.Update) []*destinationv1.Update {
	out := make([]*destinationv1.Update, 0, 2)
	if add != nil {
		out = append(out, add)
	}
	if remove != nil {
		out = append(out, remove)
	}
	return out
}

func addUpdate(eps []*destinationv1.Endpoint) *destinationv1.Update {
	return &destinationv1.Update{Update: &destinationv1.Update_Add{Add: &destinationv1.Add{Endpoints: eps}}}
}

func noEndpoints(exists bool) *destinationv1.Update {
	return &destinationv1.Update{Update: &destinationv1.Update_NoEndpoints{NoEndpoints: &destinationv1.NoEndpoints{Exists: exists}}}
}

func sortedEndpoints(m map[netip.AddrPort]*destinationv1.Endpoint) []*destinationv1.Endpoint {
	out := make([]*destinationv1.Endpoint, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, compareEndpoints)
	return out
}

func compareEndpoints(a, b *destinationv1.Endpoint) int {
	return compareAddresses(a.GetAddress(), b.GetAddress())
}

func compareAddresses(a, b *destinationv1.SocketAddress) int {
	return addrPortOf(a).Compare(addrPortOf(b))
}

func addrPortOf(a *destinationv1.SocketAddress) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.GetIp())
	return netip.AddrPortFrom(ip, uint16(a.GetPort()))
}
