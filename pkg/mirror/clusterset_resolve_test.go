package mirror

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

func TestResolve(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	port := func(name string, n int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: n, Protocol: corev1.ProtocolTCP}
	}
	member := func(cluster string, age int, headless bool, aff corev1.ServiceAffinity, ports ...corev1.ServicePort) clustersetMember {
		return clustersetMember{Cluster: cluster, Export: mcv1alpha1.Export{Created: t0.Add(time.Duration(age) * time.Second), Headless: headless, SessionAffinity: aff}, Ports: ports}
	}
	tests := []struct {
		name      string
		members   []clustersetMember
		winner    string
		headless  bool
		ports     string
		conflicts []string
	}{
		{"one member", []clustersetMember{member("east", 0, false, "None", port("http", 80))}, "east", false, "[80]", nil},
		{"agreeing members unite their ports",
			[]clustersetMember{member("west", 5, false, "None", port("grpc", 9090)), member("east", 0, false, "None", port("http", 80))},
			"east", false, "[80 9090]", nil},
		{"the oldest wins the type",
			[]clustersetMember{member("west", 5, false, "None", port("http", 80)), member("east", 0, true, "None", port("http", 80))},
			"east", true, "[80]", []string{fieldType}},
		{"a port's name disagrees",
			[]clustersetMember{member("east", 0, false, "None", port("http", 80)), member("west", 1, false, "None", port("web", 80))},
			"east", false, "[80]", []string{fieldPorts}},
		{"a name on two numbers",
			[]clustersetMember{member("east", 0, false, "None", port("http", 80)), member("west", 1, false, "None", port("http", 8080))},
			"east", false, "[80]", []string{fieldPorts}},
		{"an unnamed port is the one of its number",
			[]clustersetMember{member("east", 0, false, "None", port("", 80)), member("west", 1, false, "None", port("grpc", 9090))},
			"east", false, "[80 9090]", nil},
		{"session affinity",
			[]clustersetMember{member("east", 0, false, "None", port("http", 80)), member("west", 1, false, "ClientIP", port("http", 80))},
			"east", false, "[80]", []string{fieldSessionAffinity}},
		{"a tie goes to the first cluster by name",
			[]clustersetMember{member("west", 0, false, "None", port("http", 80)), member("east", 0, true, "None", port("http", 80))},
			"east", true, "[80]", []string{fieldType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := resolve(tt.members)
			var ports []int32
			for _, p := range res.Ports {
				ports = append(ports, p.Port)
			}
			if res.Members[0].Cluster != tt.winner || res.Headless != tt.headless || fmt.Sprint(ports) != tt.ports || !slices.Equal(res.Conflicts, tt.conflicts) {
				t.Errorf("winner %s headless %v ports %v conflicts %v; want %s %v %s %v", res.Members[0].Cluster, res.Headless, ports, res.Conflicts, tt.winner, tt.headless, tt.ports, tt.conflicts)
			}
		})
	}
}
