package proxy

import (
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
