package proxy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/pkg/policy"
)

func TestPodFromEnv(t *testing.T) {
	pod, err := PodFromEnv(`{"app":"web"}`, `{"http":8080}`)
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Pod{Labels: map[string]string{"app": "web"}, Ports: map[string]uint16{"http": 8080}}
	if !reflect.DeepEqual(pod, want) {
		t.Errorf("pod = %+v; want %+v", pod, want)
	}
	if pod, err := PodFromEnv("", ""); err != nil || len(pod.Labels)+len(pod.Ports) != 0 {
		t.Errorf("empty env: %+v, %v; want an empty pod", pod, err)
	}
	for _, tc := range []struct{ labels, ports, names string }{
		{`["app"]`, `{}`, "MESHFED_POD_LABELS"},
		{`{}`, `{"http":"8080"}`, "MESHFED_POD_PORTS"},
		{`{}`, `{"http":70000}`, "MESHFED_POD_PORTS"},
		{`{}`, `{"http":0}`, "MESHFED_POD_PORTS"},
	} {
		if _, err := PodFromEnv(tc.labels, tc.ports); err == nil || !strings.Contains(err.Error(), tc.names) {
			t.Errorf("PodFromEnv(%s, %s) = %v; want an error naming %s", tc.labels, tc.ports, err, tc.names)
		}
	}
}
