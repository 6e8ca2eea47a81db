package destination

import (
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
)

func stateOf(exists bool, eps ...*destinationv1.Endpoint) state {
	st := state{exists: exists, endpoints: map[netip.AddrPort]*destinationv1.Endpoint{}}
	for _, e := range eps {
		st.endpoints[addrPortOf(e.GetAddress())] = e
	}
	return st
}

// updatesString renders updates for comparison, one per line.
func updatesString(us []*destinationv1.Update) string {
	out := ""
	for _, u := range us {
		out += prototext.MarshalOptions{}.Format(u) + "\n"
	}
	return out
}

func wantUpdates(t *testing.T, got []*destinationv1.Update, want ...*destinationv1.Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("updates:\n%s\nwant:\n%s", updatesString(got), updatesString(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("updates:\n%s\nwant:\n%s", updatesString(got), updatesString(want))
		}
	}
}

func remove(addrs ...string) *destinationv1.Update {
	r := &destinationv1.Remove{}
	for _, a := range addrs {
		r.Addresses = append(r.Addresses, socketAddress(netip.MustParseAddrPort(a)))
	}
	return &destinationv1.Update{Update: &destinationv1.Update_Remove{Remove: r}}
}

// A subscriber's updates take what it sent to what is current, by the shared delta when it
// is one version behind, by a difference of its own otherwise.
func TestUpdatesBetween(t *testing.T) {
	a, b, c := ep("10.0.0.1:80"), ep("10.0.0.2:80"), ep("10.0.0.3:80")
	b2 := ep("10.0.0.2:80", labels("pod", "b2"))

	v := newView(viewKey{port: 80}, stateOf(true, a, b))
	first := v.cur.Load()
	wantUpdates(t, updatesBetween(sent{}, v, first), addUpdate([]*destinationv1.Endpoint{a, b}))
	if updatesBetween(sent{v, first}, v, first) != nil {
		t.Error("updates for the snapshot already sent")
	}
	if first.fullUpdate() != first.fullUpdate() {
		t.Error("the full update is made again for each subscriber")
	}

	// b changes, a goes, c comes: one delta, Add before Remove, shared by pointer.
	if !v.publish(stateOf(true, b2, c), time.Now()) {
		t.Fatal("publish saw no change")
	}
	second := v.cur.Load()
	got := updatesBetween(sent{v, first}, v, second)
	wantUpdates(t, got, addUpdate([]*destinationv1.Endpoint{b2, c}), remove("10.0.0.1:80"))
	if got[0] != second.add || got[1] != second.remove {
		t.Error("a subscriber one version behind did not get the shared delta")
	}

	// Nothing changed: no version.
	if v.publish(stateOf(true, ep("10.0.0.2:80", labels("pod", "b2")), ep("10.0.0.3:80")), time.Now()) {
		t.Error("publish of an equal state made a version")
	}
	if v.cur.Load() != second {
		t.Error("the current snapshot was replaced by an equal one")
	}

	// Two versions behind: its own difference, net of what came and went between.
	v.publish(stateOf(true, a, b2, c), time.Now())
	v.publish(stateOf(true, a, b), time.Now())
	wantUpdates(t, updatesBetween(sent{v, first}, v, v.cur.Load()))
	wantUpdates(t, updatesBetween(sent{v, second}, v, v.cur.Load()), addUpdate([]*destinationv1.Endpoint{a, b}), remove("10.0.0.3:80"))

	// Emptied, then gone, then back.
	cur := v.cur.Load()
	v.publish(stateOf(true), time.Now())
	empty := v.cur.Load()
	wantUpdates(t, updatesBetween(sent{v, cur}, v, empty), noEndpoints(true))
	v.publish(stateOf(false), time.Now())
	gone := v.cur.Load()
	wantUpdates(t, updatesBetween(sent{v, empty}, v, gone), noEndpoints(false))
	v.publish(stateOf(true, c), time.Now())
	wantUpdates(t, updatesBetween(sent{v, gone}, v, v.cur.Load()), addUpdate([]*destinationv1.Endpoint{c}))

	// Another view (an address that now names another Service): a difference.
	w := newView(viewKey{port: 81}, stateOf(true, a, c))
	wantUpdates(t, updatesBetween(sent{v, v.cur.Load()}, w, w.cur.Load()), addUpdate([]*destinationv1.Endpoint{a}))
}

// An endpoint that did not change is one object in every version.
func TestPublishSharesUnchanged(t *testing.T) {
	v := newView(viewKey{port: 80}, stateOf(true, ep("10.0.0.1:80"), ep("10.0.0.2:80")))
	before := v.cur.Load().endpoints[netip.MustParseAddrPort("10.0.0.1:80")]
	v.publish(stateOf(true, ep("10.0.0.1:80"), ep("10.0.0.3:80")), time.Now())
	if after := v.cur.Load().endpoints[netip.MustParseAddrPort("10.0.0.1:80")]; after != before {
		t.Error("an unchanged endpoint was not shared with the previous version")
	}
}
