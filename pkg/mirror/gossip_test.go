package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func TestGossipViewUpdate(t *testing.T) {
	var got []string
	v := &gossipView{changed: func(c string) { got = append(got, c) }}
	now := time.Now()
	steps := []struct {
		name    string
		members []GatewayMember
		ok      bool
		changed []string
		alive   map[string]bool // clusters known, and whether alive
	}{
		{"first view", []GatewayMember{{"east", "alive"}, {"north", "dead"}}, true, []string{"east", "north"}, map[string]bool{"east": true, "north": false}},
		{"nothing new", []GatewayMember{{"east", "alive"}, {"north", "dead"}}, true, nil, map[string]bool{"east": true, "north": false}},
		{"a suspect is still alive; one replica of two dead", []GatewayMember{{"east", "suspect"}, {"north", "dead"}, {"north", "alive"}}, true, []string{"north"}, map[string]bool{"east": true, "north": true}},
		{"east dies, north left the pool", []GatewayMember{{"east", "dead"}}, true, []string{"east", "north"}, map[string]bool{"east": false}},
		{"the view is gone: nothing known", nil, false, []string{"east"}, map[string]bool{}},
	}
	for _, s := range steps {
		got = nil
		v.update(s.members, s.ok, now)
		slices.Sort(got)
		if !slices.Equal(got, s.changed) {
			t.Errorf("%s: changed %v, want %v", s.name, got, s.changed)
		}
		for _, c := range []string{"east", "north"} {
			cl, known := v.cluster(c)
			want, wantKnown := s.alive[c]
			if known != wantKnown || known && cl.alive != want {
				t.Errorf("%s: %s known=%v alive=%v, want known=%v alive=%v", s.name, c, known, cl.alive, wantKnown, want)
			}
		}
	}
}

// TestGossipViewRead: a read that fails keeps the view, so a blip does not hand every Link to
// its probe and back; reads failing for unreadableAfter drop it; a good read takes over again.
func TestGossipViewRead(t *testing.T) {
	var changed []string
	v := &gossipView{changed: func(c string) { changed = append(changed, c) }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	start := time.Now()
	down := errors.New("connection refused")
	steps := []struct {
		name    string
		at      time.Duration
		members []GatewayMember
		err     error
		changed []string
		known   bool
	}{
		{"a good read", 0, []GatewayMember{{"east", "alive"}}, nil, []string{"east"}, true},
		{"one failed read keeps the view", 100 * time.Millisecond, nil, down, nil, true},
		{"still failing, not for long enough", 100*time.Millisecond + unreadableAfter - time.Millisecond, nil, down, nil, true},
		{"failing for unreadableAfter drops the view", 100*time.Millisecond + unreadableAfter, nil, down, []string{"east"}, false},
		{"a good read again", 2 * unreadableAfter, []GatewayMember{{"east", "alive"}}, nil, []string{"east"}, true},
		{"a new failure starts a new spell", 2*unreadableAfter + 100*time.Millisecond, nil, down, nil, true},
	}
	for _, s := range steps {
		changed = nil
		v.read(s.members, s.err, start.Add(s.at))
		if !slices.Equal(changed, s.changed) {
			t.Errorf("%s: changed %v, want %v", s.name, changed, s.changed)
		}
		if _, known := v.cluster("east"); known != s.known {
			t.Errorf("%s: east known=%v, want %v", s.name, known, s.known)
		}
	}
}

// suiteMembers is the gossip pool the suite's link controller reads.
var suiteMembers struct {
	sync.Mutex
	members []GatewayMember
}

func fetchSuiteMembers(context.Context) ([]GatewayMember, error) {
	suiteMembers.Lock()
	defer suiteMembers.Unlock()
	return slices.Clone(suiteMembers.members), nil
}

func setSuiteMembers(m ...GatewayMember) {
	suiteMembers.Lock()
	suiteMembers.members = m
	suiteMembers.Unlock()
}

// TestGatewayGossip: the gossip pool's word on a Link's cluster takes its gateway mirrors out
// and puts them back, and the Link says so; once the pool forgets the cluster, the Link has
// no word on its gateway (it has no probe) and the mirrors are ready.
func TestGatewayGossip(t *testing.T) {
	f := newFixture(t, readerKubeconfig)
	cluster := f.link.Spec.TargetClusterName
	t.Cleanup(func() { setSuiteMembers() })
	f.remoteService("pay", exported("true"))
	f.awaitMirror(f.mirrorOf("pay"), gatewayEndpoints(true))

	setSuiteMembers(GatewayMember{cluster, "alive"})
	f.awaitLinkCondition(mcv1alpha1.LinkGatewayAlive, metav1.ConditionTrue, "MemberAlive")

	setSuiteMembers(GatewayMember{cluster, "dead"})
	f.awaitLinkCondition(mcv1alpha1.LinkGatewayAlive, metav1.ConditionFalse, "MemberDead")
	f.awaitMirror(f.mirrorOf("pay"), gatewayEndpoints(false))

	setSuiteMembers(GatewayMember{cluster, "alive"})
	f.awaitMirror(f.mirrorOf("pay"), gatewayEndpoints(true))

	setSuiteMembers()
	f.awaitMirror(f.mirrorOf("pay"), func(svc *corev1.Service, slices []discoveryv1.EndpointSlice) error {
		var link mcv1alpha1.Link
		if err := localSide.client.Get(f.ctx, client.ObjectKeyFromObject(f.link), &link); err != nil {
			return err
		}
		for _, c := range link.Status.Conditions {
			if c.Type == mcv1alpha1.LinkGatewayAlive {
				return fmt.Errorf("the Link still says %s=%s (%s)", c.Type, c.Status, c.Reason)
			}
		}
		return gatewayEndpoints(true)(svc, slices)
	})
}
