package local

import (
	"context"
	"fmt"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/addons"
)

// installAddons applies CoreDNS, cert-manager and MetalLB side by side, waits for them to
// serve, then gives MetalLB the cluster's address pool (its webhook refuses the pool until it
// serves).
func installAddons(ctx context.Context, k *kube, c cluster) error {
	cfg := addons.Config{
		ClusterDomain: "cluster.local",
		DNSServiceIP:  c.DNSServiceIP.String(),
		LBPoolStart:   c.LBPoolStart.String(),
		LBPoolEnd:     c.LBPoolEnd.String(),
	}
	established := func(ctx context.Context) error {
		return k.kubectl(ctx, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	}
	if err := addons.Install(ctx, cfg, k.apply, established); err != nil {
		return err
	}
	for _, ns := range []string{"kube-system", "cert-manager", "metallb-system"} {
		if err := k.awaitRollout(ctx, ns, 2*time.Minute); err != nil {
			return err
		}
	}
	pool, err := addons.MetalLBPool(cfg)
	if err != nil {
		return err
	}
	return waitFor(ctx, time.Minute, fmt.Sprintf("MetalLB on %s to take its address pool", c.Name), func() (bool, error) {
		err := k.apply(ctx, pool)
		return err == nil, err
	})
}
