package proxy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/meshfed/meshfed/pkg/trust"
)

func TestCachedStaticResolver(t *testing.T) {
	id := trust.ID{TrustDomain: "cluster.local", Namespace: "shop", ServiceAccount: "api"}
	r := StaticResolver{"api.shop.svc.cluster.local:80": {{Addr: netip.MustParseAddrPort("10.0.0.1:4143"), Identity: &id}}}.Cached()
	ctx := context.Background()
	a, err := r.Resolve(ctx, "api.shop.svc.cluster.local:80")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Resolve(ctx, "api.shop.svc.cluster.local:80")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !a.Known() || a.Endpoints.Len() != 1 {
		t.Errorf("a known target: %p then %p, known %v, %d endpoints; want one destination, known, 1 endpoint", a, b, a.Known(), a.Endpoints.Len())
	}
	u, err := r.Resolve(ctx, "10.9.9.9:80")
	if err != nil {
		t.Fatal(err)
	}
	if u.Known() {
		t.Error("a target the table does not have is known")
	}
	if n := len(r.(*cachedResolver).dests); n != 1 {
		t.Errorf("%d destinations kept; want 1, unknown targets are not kept", n)
	}
}
