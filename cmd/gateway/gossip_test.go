package main

import (
	"encoding/json"
	"testing"

	"github.com/meshfed/meshfed/pkg/gateway"
	"github.com/meshfed/meshfed/pkg/membership"
	"github.com/meshfed/meshfed/pkg/mirror"
	"github.com/meshfed/meshfed/pkg/trust"
)

// /members is read by the link controller: what the gateway writes must be what it reads.
func TestMembersJSONIsWhatTheLinkControllerReads(t *testing.T) {
	b, err := json.Marshal(membership.MembersJSON([]membership.Status{
		{Name: "east-gw-1", Cluster: "east", State: membership.Alive},
		{Name: "north-gw-1", Cluster: "north", State: membership.Dead},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got []mirror.GatewayMember
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []mirror.GatewayMember{{Cluster: "east", State: "alive"}, {Cluster: "north", State: "dead"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("the link controller reads %+v, want %+v", got, want)
	}
}

func TestGossipAdmitsGatewaysOnly(t *testing.T) {
	allow, err := gateway.ParseAllowList([]string{"west"})
	if err != nil {
		t.Fatal(err)
	}
	g := &gossip{self: trust.ID{TrustDomain: "east.meshfed.local", Namespace: "mesh-multicluster", ServiceAccount: "mesh-gateway"},
		allow: allow, linked: map[string]bool{"north.meshfed.local": true}}
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"spiffe://east.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway", true},
		{"spiffe://west.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway", true},
		{"spiffe://north.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway", true},
		{"spiffe://south.meshfed.local/ns/mesh-multicluster/sa/mesh-gateway", false},
		{"spiffe://west.meshfed.local/ns/shop/sa/web", false},
	} {
		id, err := trust.ParseID(tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.allowed(id); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want admitted=%v", tt.id, err, tt.ok)
		}
	}
}
