package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	destinationv1 "github.com/meshfed/meshfed/pkg/apis/destination/v1"
	"github.com/meshfed/meshfed/pkg/policy"
	"github.com/meshfed/meshfed/pkg/proxy"
	"github.com/meshfed/meshfed/pkg/trust"
)

// FollowPolicy keeps the policy of the proxy's namespace up to date in a until ctx ends:
// it follows the destination service's GetPolicy stream, compiles each update for
// self.Namespace in self.TrustDomain and gives the result to a. An update that does not
// decode or compile is logged and the previous policy kept; a stream that breaks is opened
// again with backoff, and the last policy stays meanwhile. Until the first update, a
// enforces what it was made with (in `proxy run`, an empty index: the default policy
// decides every port). It returns when ctx ends; run it in a goroutine.
func FollowPolicy(ctx context.Context, client destinationv1.DestinationClient, self trust.ID, a *proxy.PolicyAuthorizer, log *slog.Logger) {
	req := &destinationv1.GetPolicyRequest{
		Namespace: self.Namespace,
		Context:   &destinationv1.ProxyContext{Namespace: self.Namespace, Identity: self.String()},
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		got, err := followPolicy(ctx, client, req, self.TrustDomain, a, log)
		if ctx.Err() != nil {
			return
		}
		if got {
			backoff = 100 * time.Millisecond
		}
		log.Warn("policy stream ended; the last policy is kept until it is back", "namespace", self.Namespace, "retryIn", backoff, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// followPolicy reads one stream until it ends; got says whether it gave any update.
func followPolicy(ctx context.Context, client destinationv1.DestinationClient, req *destinationv1.GetPolicyRequest, trustDomain string, a *proxy.PolicyAuthorizer, log *slog.Logger) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.GetPolicy(ctx, req)
	if err != nil {
		return false, err
	}
	for {
		u, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = true
		ix, err := compilePolicy(req.GetNamespace(), trustDomain, u.GetObjects())
		if err != nil {
			log.Error("policy update not taken; the previous policy stays", "namespace", req.GetNamespace(), "error", err)
			continue
		}
		a.SetIndex(ix)
		log.Info("policy updated", "namespace", req.GetNamespace())
	}
}

func compilePolicy(namespace, trustDomain string, data []byte) (*policy.Index, error) {
	var objs policy.Objects
	if err := json.Unmarshal(data, &objs); err != nil {
		return nil, fmt.Errorf("decoding the policy objects: %w", err)
	}
	return policy.Compile(namespace, trustDomain, objs)
}
