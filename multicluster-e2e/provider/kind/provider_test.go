package kind

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/multicluster-e2e/build"
	"github.com/meshfed/meshfed/multicluster-e2e/provider"
)

// fakeCLI stands for kind and docker: it records each command and answers from a table keyed
// by the command line's beginning.
type fakeCLI struct {
	answers map[string]string
	fail    map[string]error
	ran     []string
	// stdin holds what each command read, by its index in ran.
	stdin []string
}

func (f *fakeCLI) run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.ran = append(f.ran, line)
	f.stdin = append(f.stdin, string(stdin))
	for prefix, err := range f.fail {
		if strings.HasPrefix(line, prefix) {
			return nil, err
		}
	}
	for prefix, out := range f.answers {
		if strings.HasPrefix(line, prefix) {
			return []byte(out), nil
		}
	}
	return nil, nil
}

func (f *fakeCLI) ranLike(prefix string) []string {
	var out []string
	for _, l := range f.ran {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func newTestProvider(t *testing.T, f *fakeCLI) *Provider {
	t.Helper()
	p := New(filepath.Join(t.TempDir(), "kind"), &build.Builder{Root: t.TempDir(), Cache: t.TempDir()}, nil)
	p.run = f.run
	return p
}

func TestDownDeletesOnlyOurClusters(t *testing.T) {
	f := &fakeCLI{answers: map[string]string{"kind get clusters": "dev\nmeshfed-east\nkind\nmeshfed-west\n"}}
	p := newTestProvider(t, f)
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kubeconfig", "west.kind.yaml", "west.kind.kubeconfig", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(p.dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	deleted := f.ranLike("kind delete cluster")
	if len(deleted) != 2 || !strings.Contains(deleted[0], "--name meshfed-east ") || !strings.Contains(deleted[1], "--name meshfed-west ") {
		t.Errorf("deleted %q, want meshfed-east and meshfed-west only", deleted)
	}
	for _, d := range deleted {
		if !strings.Contains(d, "--kubeconfig "+p.dir) {
			t.Errorf("%q would edit ~/.kube/config, want the provider's own kubeconfig", d)
		}
	}
	left, _ := os.ReadDir(p.dir)
	if len(left) != 1 || left[0].Name() != "notes.txt" {
		t.Errorf("after down %s holds %v, want only the file the provider did not write", p.dir, left)
	}
}

func TestDownWithNothingUp(t *testing.T) {
	f := &fakeCLI{}
	if err := newTestProvider(t, f).Down(context.Background()); err != nil {
		t.Fatalf("down with nothing up: %v", err)
	}
	if d := f.ranLike("kind delete"); len(d) > 0 {
		t.Errorf("ran %q with nothing up", d)
	}
}

func TestDownSaysWhatFailed(t *testing.T) {
	f := &fakeCLI{fail: map[string]error{"kind": notFound("kind")}}
	err := newTestProvider(t, f).Down(context.Background())
	if err == nil || !strings.Contains(err.Error(), "kind not found: install it") || !strings.Contains(err.Error(), "or use the local provider") {
		t.Errorf("down without kind: %v, want it to say how to install kind", err)
	}
}

func TestLoad(t *testing.T) {
	tarball := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(tarball, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	up := map[string]string{"kind get clusters": "meshfed-west\nmeshfed-east\nmy-north\n"}
	tests := []struct {
		name     string
		answers  map[string]string
		tarball  string
		clusters []string
		want     []string
		wantErr  string
	}{
		{name: "named", answers: up, tarball: tarball, clusters: []string{"east"},
			want: []string{"kind load image-archive --name meshfed-east " + tarball}},
		{name: "all", answers: up, tarball: tarball,
			want: []string{"kind load image-archive --name meshfed-east " + tarball, "kind load image-archive --name meshfed-west " + tarball}},
		{name: "a user's cluster", answers: up, tarball: tarball, clusters: []string{"north"}, wantErr: `cluster "north" is not up; the clusters up are east, west`},
		{name: "nothing up", tarball: tarball, wantErr: "no cluster is up: run `clusters up --provider kind` first"},
		{name: "no tarball", answers: up, tarball: "/nonexistent/image.tar", wantErr: "image tarball: stat /nonexistent/image.tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeCLI{answers: tt.answers}
			err := newTestProvider(t, f).Load(context.Background(), tt.tarball, tt.clusters...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if l := f.ranLike("kind load"); len(l) > 0 {
					t.Errorf("loaded %q despite the error", l)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.ranLike("kind load"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("ran %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUpRefuses(t *testing.T) {
	tests := []struct {
		name    string
		f       *fakeCLI
		opts    provider.Options
		wantErr string
	}{
		{name: "bad names", f: &fakeCLI{}, opts: provider.Options{Clusters: []string{"West"}}, wantErr: `cluster name "West" is not valid`},
		{name: "no docker", f: &fakeCLI{fail: map[string]error{"docker": notFound("docker")}}, opts: provider.Options{Clusters: []string{"west"}},
			wantErr: "docker not found: install Docker (https://docs.docker.com/engine/install/), or use the local provider"},
		{name: "docker stopped", f: &fakeCLI{fail: map[string]error{"docker info": commandError("docker", []string{"info"}, errors.New("exit status 1"), "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")}},
			opts: provider.Options{Clusters: []string{"west"}}, wantErr: "docker info: exit status 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?: start Docker, or use the local provider"},
		{name: "already up", f: &fakeCLI{answers: map[string]string{"kind get clusters": "meshfed-west\n"}}, opts: provider.Options{Clusters: []string{"west", "east"}},
			wantErr: "clusters west are already up: run `clusters down --provider kind` first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newTestProvider(t, tt.f).Up(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if c := tt.f.ranLike("kind create"); len(c) > 0 {
				t.Errorf("created %q despite the error", c)
			}
			if d := tt.f.ranLike("kind delete"); len(d) > 0 {
				t.Errorf("deleted %q: a refused up must not touch clusters that are up", d)
			}
		})
	}
}

func TestComponents(t *testing.T) {
	f := &fakeCLI{}
	p := newTestProvider(t, f)
	ctx := context.Background()
	if err := p.StopComponent(ctx, "east", "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	if err := p.StartComponent(ctx, "east", "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"docker exec meshfed-east-control-plane mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/kube-apiserver.yaml.stopped",
		"docker exec meshfed-east-control-plane mv /etc/kubernetes/kube-apiserver.yaml.stopped /etc/kubernetes/manifests/kube-apiserver.yaml",
	}
	if strings.Join(f.ran, "\n") != strings.Join(want, "\n") {
		t.Errorf("ran %q, want %q", f.ran, want)
	}
	if err := p.StopComponent(ctx, "east", "kubelet"); err == nil || !strings.Contains(err.Error(), "the ones that can are etcd, kube-apiserver") {
		t.Errorf("stopping kubelet: %v, want the components that can be stopped named", err)
	}
}

func TestRunCommandNamesTheCommand(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	_, err := runCommand(context.Background(), nil, "sh", "-c", "echo oops >&2; exit 3")
	if err == nil || err.Error() != "sh -c echo oops >&2; exit 3: exit status 3: oops" {
		t.Errorf("error %v, want the command, its status and its stderr", err)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Errorf("error %v does not wrap the command's own", err)
	}
	if _, err := runCommand(context.Background(), nil, "docker-that-does-not-exist"); err == nil || !strings.Contains(err.Error(), "not found in PATH") {
		t.Errorf("missing command: %v", err)
	}
}

func TestRunCommandKeepsAllClustersOnTheKindNetwork(t *testing.T) {
	t.Setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", "elsewhere")
	out, err := runCommand(context.Background(), nil, "sh", "-c", "echo ${KIND_EXPERIMENTAL_DOCKER_NETWORK:-unset}")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "unset" {
		t.Errorf("kind would see KIND_EXPERIMENTAL_DOCKER_NETWORK=%s", out)
	}
}

func TestInstallAddonsOrder(t *testing.T) {
	f := &fakeCLI{}
	k := &kube{run: f.run, kubectl: "kubectl", kubeconfig: "/kc", context: "east"}
	c := newCluster("east", 1)
	lb := pool{Start: netip.MustParseAddr("172.18.255.120"), End: netip.MustParseAddr("172.18.255.139")}
	if err := installAddons(context.Background(), k, c, lb); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, l := range f.ran {
		if !strings.HasPrefix(l, "kubectl --kubeconfig /kc --context east ") {
			t.Fatalf("ran %q, not kubectl against east of the provider's kubeconfig", l)
		}
		steps = append(steps, strings.TrimPrefix(l, "kubectl --kubeconfig /kc --context east "))
	}
	if first := steps[0]; first != "-n kube-system delete deployment/coredns configmap/coredns --ignore-not-found --wait" {
		t.Errorf("first step %q, want kubeadm's CoreDNS removed before ours is applied", first)
	}
	label := slices.Index(steps, "label node meshfed-east-control-plane node.kubernetes.io/exclude-from-external-load-balancers-")
	if label < 0 || label != len(steps)-2 {
		t.Errorf("steps %q: want the node's exclude-from-external-load-balancers label removed just before the pool is applied", steps)
	}
	if last := steps[len(steps)-1]; !strings.HasPrefix(last, "apply --server-side") || !strings.Contains(f.stdin[len(f.stdin)-1], "- 172.18.255.120-172.18.255.139") {
		t.Errorf("last step %q with %q, want east's MetalLB pool applied", last, f.stdin[len(f.stdin)-1])
	}
	// The CoreDNS applied is ours, its Service at the address kubelet's clusterDNS names.
	var coredns bool
	for _, in := range f.stdin {
		coredns = coredns || strings.Contains(in, "clusterIP: 198.19.16.10")
	}
	if !coredns {
		t.Error("no manifest applied puts kube-dns at 198.19.16.10, east's tenth service address")
	}
}
