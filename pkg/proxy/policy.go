package proxy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/meshfed/meshfed/pkg/policy"
	"github.com/meshfed/meshfed/pkg/trust"
)

// PolicyAuthorizer decides inbound connections by the policy objects of the pod's namespace,
// compiled by package policy. The index may be swapped while the proxy runs.
type PolicyAuthorizer struct {
	Pod     policy.Pod
	Default policy.DefaultPolicy
	index   atomic.Pointer[policy.Index]
}

// NewPolicyAuthorizer returns an authorizer for pod with ix as its policy.
func NewPolicyAuthorizer(pod policy.Pod, def policy.DefaultPolicy, ix *policy.Index) *PolicyAuthorizer {
	a := &PolicyAuthorizer{Pod: pod, Default: def}
	a.index.Store(ix)
	return a
}

// SetIndex takes a newly compiled policy for the connections that come next.
func (a *PolicyAuthorizer) SetIndex(ix *policy.Index) { a.index.Store(ix) }

func (a *PolicyAuthorizer) Authorize(port uint16, client *trust.ID, from netip.Addr) (bool, string) {
	d := a.index.Load().Authorize(a.Pod, port, policy.Client{ID: client, Addr: from}, a.Default)
	return d.Allowed, d.Reason
}

// PodFromEnv reads the pod a proxy guards from what the injector gives it: labels, a JSON
// object of the pod template's labels (env MESHFED_POD_LABELS), and ports, a JSON object of
// the app containers' named TCP ports to their numbers (env MESHFED_POD_PORTS). An empty
// value is an empty object: a pod injected before the injector gave them is selected only
// by Servers with an empty podSelector and a numbered port.
func PodFromEnv(labels, ports string) (policy.Pod, error) {
	var pod policy.Pod
	if labels != "" {
		if err := json.Unmarshal([]byte(labels), &pod.Labels); err != nil {
			return policy.Pod{}, fmt.Errorf("MESHFED_POD_LABELS is not a JSON object of label to value (%q): %w", labels, err)
		}
	}
	if ports != "" {
		if err := json.Unmarshal([]byte(ports), &pod.Ports); err != nil {
			return policy.Pod{}, fmt.Errorf("MESHFED_POD_PORTS is not a JSON object of port name to number, 1 to 65535 (%q): %w", ports, err)
		}
		for name, n := range pod.Ports {
			if n == 0 {
				return policy.Pod{}, fmt.Errorf("MESHFED_POD_PORTS: port %q is 0; want 1 to 65535", name)
			}
		}
	}
	return pod, nil
}
