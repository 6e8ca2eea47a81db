package main

import (
	"context"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/mirror"
)

func mirrorSlice(link string, ready ...bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{mcv1alpha1.LabelLink: link}}}
	for _, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}})
	}
	return s
}

// TestMirrorsAwait: a mirror's state changes when all its endpoints are ready or none is, its
// time is the first event that said so, and await waits for a state that began after a time.
func TestMirrorsAwait(t *testing.T) {
	m := &mirrors{byLink: map[string]mirrorState{}, changed: make(chan struct{})}
	link := types.NamespacedName{Namespace: "mesh-multicluster", Name: "east"}
	key := link.Namespace + "." + link.Name
	t0 := time.Now()
	m.saw(mirrorSlice(key, true), t0)
	ctx := context.Background()
	if at, err := m.await(ctx, nil, link, true, time.Time{}, time.Second); err != nil || !at.Equal(t0) {
		t.Fatalf("ready: %v, %v; want %v", at, err, t0)
	}
	killed := t0.Add(time.Second)
	if _, err := m.await(ctx, nil, link, false, killed, 10*time.Millisecond); err == nil {
		t.Fatal("not ready before any event said so")
	}
	done := make(chan time.Time, 1)
	go func() {
		at, err := m.await(ctx, nil, link, false, killed, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- at
	}()
	m.saw(mirrorSlice(key, true, false), killed.Add(time.Millisecond)) // half ready: no verdict
	notReady := killed.Add(2 * time.Millisecond)
	m.saw(mirrorSlice(key, false, false), notReady)
	m.saw(mirrorSlice(key, false, false), notReady.Add(time.Millisecond)) // no change: keeps its time
	if at := <-done; !at.Equal(notReady) {
		t.Errorf("not ready at %v, want %v", at, notReady)
	}
}

// TestDeadSeen: only a read after arm that knows east and holds none of its gateways alive or
// suspect counts, and only the first.
func TestDeadSeen(t *testing.T) {
	var answer []mirror.GatewayMember
	d := &deadSeen{}
	fetch := d.wrap(func(context.Context) ([]mirror.GatewayMember, error) { return answer, nil })
	read := func(members ...mirror.GatewayMember) {
		answer = members
		if _, err := fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	read(mirror.GatewayMember{Cluster: "east", State: "dead"})
	if _, ok := d.first(); ok {
		t.Fatal("counted before arm")
	}
	d.arm()
	read(mirror.GatewayMember{Cluster: "east", State: "suspect"})
	read(mirror.GatewayMember{Cluster: "west", State: "dead"})
	if _, ok := d.first(); ok {
		t.Fatal("counted a suspect east, or another cluster")
	}
	read(mirror.GatewayMember{Cluster: "east", State: "dead"})
	first, ok := d.first()
	if !ok {
		t.Fatal("east dead not counted")
	}
	read(mirror.GatewayMember{Cluster: "east", State: "dead"})
	if again, _ := d.first(); !again.Equal(first) {
		t.Errorf("a later read moved the time from %v to %v", first, again)
	}
}
