package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
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
	coredns, err := addons.CoreDNS(cfg)
	if err != nil {
		return err
	}
	// CRDs first, all at once, and established before any controller that watches them starts.
	var crds bytes.Buffer
	var rest [][]byte
	for _, m := range [][]byte{coredns, addons.CertManager(), addons.MetalLB()} {
		c, r := addons.SplitCRDs(m)
		if len(c) > 0 {
			crds.WriteString("---\n")
			crds.Write(c)
		}
		quick, err := addons.QuickReadiness(r)
		if err != nil {
			return err
		}
		rest = append(rest, quick)
	}
	if err := k.apply(ctx, crds.Bytes()); err != nil {
		return err
	}
	if err := k.kubectl(ctx, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); err != nil {
		return err
	}
	errs := make([]error, len(rest))
	var wg sync.WaitGroup
	for i, m := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.apply(ctx, m)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
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
