// Package linkctl runs the link controller as the benches of the link controller measure it:
// cmd/link built from this repository and started as a process of its own against a testenv
// apiserver, as it runs in a cluster, so that its CPU and memory are its own; and the Link,
// with its credentials Secret, that makes it watch another apiserver.
//
// StartPair starts the two apiservers it runs against, through internal/testenv, with the
// link controller's scheme. It decides nothing about what a bench measures or prints.
package linkctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshfed/meshfed/internal/testenv"
	"github.com/meshfed/meshfed/multicluster-e2e/build"
	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
	"github.com/meshfed/meshfed/pkg/mirror"
)

// Namespace is where Links and their credentials live, as cmd/link's default says.
const Namespace = "mesh-multicluster"

// StartPair starts two apiservers (testenv.Pair: Local and Remote) that know the link
// controller's types, building kube-apiserver on the first use. Stop them with Pair.Stop,
// also on failure of what follows.
func StartPair(ctx context.Context) (*testenv.Pair, error) {
	assets, err := testenv.Assets(ctx)
	if err != nil {
		return nil, err
	}
	scheme, err := mirror.Scheme()
	if err != nil {
		return nil, err
	}
	return testenv.StartPair(ctx, assets, scheme)
}

// Controller is a running link controller process.
type Controller struct {
	cmd *exec.Cmd
	// dir holds its kubeconfig and its log.
	dir string
}

// Start builds cmd/link (cached after the first build) and runs it against cluster, as its
// own process. name tells the controllers of one bench apart in their temporary folders. Stop
// it with Stop, also on failure of what follows.
func Start(ctx context.Context, cluster *testenv.Cluster, name string) (*Controller, error) {
	b, err := build.NewFromWorkingDir(os.Stderr)
	if err != nil {
		return nil, err
	}
	bin, err := b.Repo(ctx, "./cmd/link")
	if err != nil {
		return nil, fmt.Errorf("building cmd/link: %w", err)
	}
	kubeconfig, err := cluster.Kubeconfig(envtest.User{Name: "link-controller", Groups: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-link-"+name+"-")
	if err != nil {
		return nil, err
	}
	c := &Controller{dir: dir}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		c.Stop()
		return nil, err
	}
	// No metrics or health listeners, and no gossip pool to read: its default URL is a
	// cluster's Service, which would be looked up in the machine's DNS ten times a second.
	// The benches' Links have no probe either, so the controller dials nothing but loopback.
	c.cmd = exec.CommandContext(ctx, filepath.Join(bin, "link"),
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--gateway-members-url=")
	c.cmd.Env = append(os.Environ(), "KUBECONFIG="+path)
	// The controller must not outlive the bench, however it ends.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(c.LogPath())
	if err != nil {
		c.Stop()
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("starting the link controller: %w", err)
	}
	return c, nil
}

// Pid is the controller's process id, for its CPU and memory.
func (c *Controller) Pid() int { return c.cmd.Process.Pid }

// LogPath is where the controller's log goes, until Stop.
func (c *Controller) LogPath() string { return filepath.Join(c.dir, "link.log") }

// Stop kills the controller, waits for it and removes its folder.
func (c *Controller) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
	os.RemoveAll(c.dir)
}

// CreateLink makes, in local, a Link named target to the cluster reader reaches (a
// kubeconfig of a user testenv.SetUpReader set up there), and its credentials Secret. The
// gateway address is never dialled (the Link has no probe); mirrors' slices hold it.
func CreateLink(ctx context.Context, local *testenv.Cluster, target string, reader []byte, gateway string) error {
	secret := "cluster-credentials-" + target
	if err := local.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: Namespace},
		Data:       map[string][]byte{mcv1alpha1.CredentialsKey: reader},
	}); err != nil {
		return fmt.Errorf("the credentials of the Link to %s: %w", target, err)
	}
	if err := local.Client.Create(ctx, &mcv1alpha1.Link{
		ObjectMeta: metav1.ObjectMeta{Name: target, Namespace: Namespace},
		Spec: mcv1alpha1.LinkSpec{TargetClusterName: target, CredentialsSecret: secret,
			GatewayAddresses: []string{gateway}, GatewayPort: mcv1alpha1.DefaultGatewayPort},
	}); err != nil {
		return fmt.Errorf("the Link to %s: %w", target, err)
	}
	return nil
}

// WithLinkStatus adds to err what the Link named link in local says: its conditions and
// each export's, which usually tell why a bench waited in vain.
func WithLinkStatus(ctx context.Context, local *testenv.Cluster, link string, err error) error {
	// err is often ctx's own deadline: the Link is read on a context of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var l mcv1alpha1.Link
	if gerr := local.Client.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: link}, &l); gerr != nil {
		return errors.Join(err, fmt.Errorf("reading Link %s: %w", link, gerr))
	}
	for _, c := range l.Status.Conditions {
		err = fmt.Errorf("%w\n  Link %s: %s=%s %s: %s", err, link, c.Type, c.Status, c.Reason, c.Message)
	}
	for _, s := range l.Status.Services {
		for _, c := range s.Conditions {
			err = fmt.Errorf("%w\n  Link %s: %s/%s %s=%s %s: %s", err, link, s.Namespace, s.Name, c.Type, c.Status, c.Reason, c.Message)
		}
	}
	return err
}
