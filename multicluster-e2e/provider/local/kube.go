package local

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/multicluster-e2e/provider"
)

// kube talks to one cluster: client-go for waiting, kubectl for applying manifests, as a user
// applies them.
type kube struct {
	client     kubernetes.Interface
	kubeconfig string
	context    string
	kubectlBin string
}

func newKube(kubeconfig, context, kubectl string) (*kube, error) {
	cfg, err := provider.RESTConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kube{client: client, kubeconfig: kubeconfig, context: context, kubectlBin: kubectl}, nil
}

func (k *kube) awaitAPIServer(ctx context.Context, timeout time.Duration, logPath string) error {
	err := waitFor(ctx, timeout, "kube-apiserver of "+k.context+" to be ready", func() (bool, error) {
		body, err := k.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, err
		}
		return string(body) == "ok", nil
	})
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, logPath)
	}
	return nil
}

func (k *kube) awaitNodeReady(ctx context.Context, name string, timeout time.Duration, logPath string) error {
	err := waitFor(ctx, timeout, "node "+name+" to be Ready", func() (bool, error) {
		node, err := k.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return true, nil
				}
				return false, fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, logPath)
	}
	return nil
}

// apply applies a manifest with kubectl's server-side apply.
func (k *kube) apply(ctx context.Context, manifest []byte) error {
	return k.kubectl(ctx, manifest, "apply", "--server-side", "--force-conflicts", "-f", "-")
}

// kubectl runs kubectl against the cluster, with stdin when it is not nil.
func (k *kube) kubectl(ctx context.Context, stdin []byte, args ...string) error {
	cmd := exec.CommandContext(ctx, k.kubectlBin, append([]string{"--kubeconfig", k.kubeconfig, "--context", k.context}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// awaitRollout waits for every Deployment and DaemonSet of a namespace to have all its
// replicas updated and available.
func (k *kube) awaitRollout(ctx context.Context, namespace string, timeout time.Duration) error {
	return waitFor(ctx, timeout, "the workloads in "+namespace+" on "+k.context+" to be available", func() (bool, error) {
		deps, err := k.client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, d := range deps.Items {
			if !deploymentAvailable(&d) {
				return false, fmt.Errorf("deployment %s: %d of %d replicas available", d.Name, d.Status.AvailableReplicas, replicas(d.Spec.Replicas))
			}
		}
		dss, err := k.client.AppsV1().DaemonSets(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, ds := range dss.Items {
			if ds.Status.DesiredNumberScheduled == 0 || ds.Status.NumberAvailable < ds.Status.DesiredNumberScheduled {
				return false, fmt.Errorf("daemonset %s: %d of %d pods available", ds.Name, ds.Status.NumberAvailable, ds.Status.DesiredNumberScheduled)
			}
		}
		return true, nil
	})
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	want := replicas(d.Spec.Replicas)
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want && d.Status.AvailableReplicas == want
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
