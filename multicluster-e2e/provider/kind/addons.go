package kind

import (
	"context"
	"fmt"
	"time"

	"github.com/meshfed/meshfed/multicluster-e2e/addons"
)

// kube runs kubectl against one cluster, as a user applies manifests.
type kube struct {
	run        runner
	kubectl    string
	kubeconfig string
	context    string
}

func (k *kube) do(ctx context.Context, stdin []byte, args ...string) error {
	_, err := k.run(ctx, stdin, k.kubectl, append([]string{"--kubeconfig", k.kubeconfig, "--context", k.context}, args...)...)
	return err
}

func (k *kube) apply(ctx context.Context, manifest []byte) error {
	return k.do(ctx, manifest, "apply", "--server-side", "--force-conflicts", "-f", "-")
}

// installAddons installs what the local provider installs, the same way: CRDs first and
// established, then everything else side by side, then MetalLB's pool once its webhook takes it.
//
// kubeadm's CoreDNS goes first. Applied over it, ours would merge with it field by field
// (server-side apply keeps what another manager set), and the result would be neither; the
// kube-dns Service stays, at the address kubelet's clusterDNS names, which is ours too.
func installAddons(ctx context.Context, k *kube, c cluster, lb pool) error {
	if err := k.do(ctx, nil, "-n", "kube-system", "delete", "deployment/coredns", "configmap/coredns", "--ignore-not-found", "--wait"); err != nil {
		return fmt.Errorf("removing kubeadm's CoreDNS from %s: %w", c.Name, err)
	}
	cfg := addons.Config{
		ClusterDomain: "cluster.local",
		DNSServiceIP:  c.DNSServiceIP.String(),
		LBPoolStart:   lb.Start.String(),
		LBPoolEnd:     lb.End.String(),
	}
	established := func(ctx context.Context) error {
		return k.do(ctx, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	}
	if err := addons.Install(ctx, cfg, k.apply, established); err != nil {
		return err
	}
	for _, ns := range []string{"kube-system", "cert-manager", "metallb-system"} {
		if err := k.do(ctx, nil, "-n", ns, "wait", "--for=condition=Available", "deployment", "--all", "--timeout=2m"); err != nil {
			return fmt.Errorf("the deployments of %s on %s: %w", ns, c.Name, err)
		}
	}
	if err := k.do(ctx, nil, "-n", "metallb-system", "rollout", "status", "daemonset/speaker", "--timeout=2m"); err != nil {
		return fmt.Errorf("MetalLB's speaker on %s: %w", c.Name, err)
	}
	// kubeadm labels a control-plane node as excluded from external load balancers and MetalLB's
	// speaker honours the label: on a cluster whose one node is its control plane, no address
	// would ever be announced. Local nodes are not made by kubeadm and carry no such label.
	if err := k.do(ctx, nil, "label", "node", c.node(), "node.kubernetes.io/exclude-from-external-load-balancers-"); err != nil {
		return fmt.Errorf("letting MetalLB announce from %s: %w", c.node(), err)
	}
	pool, err := addons.MetalLBPool(cfg)
	if err != nil {
		return err
	}
	return retry(ctx, time.Minute, fmt.Sprintf("MetalLB on %s to take its address pool", c.Name), func() error {
		return k.apply(ctx, pool)
	})
}
