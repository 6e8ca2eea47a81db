package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// runner runs a command with stdin (none when nil) and returns its stdout. A failure names
// the command and carries its stderr. Tests replace it to see what the provider would run.
type runner func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)

// runCommand is the runner of real commands.
func runCommand(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, notFound(name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	// kind puts nodes on the network this variable names; every cluster must be on "kind",
	// where the others and the LoadBalancer pools are.
	cmd.Env = withoutEnv(os.Environ(), "KIND_EXPERIMENTAL_DOCKER_NETWORK")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), commandError(name, args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func notFound(name string) error {
	switch name {
	case "docker":
		return errors.New("docker not found: install Docker (https://docs.docker.com/engine/install/), or use the local provider")
	case "kind":
		return errors.New("kind not found: install it (go install sigs.k8s.io/kind@v0.33.0, or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or use the local provider")
	}
	return fmt.Errorf("%s not found in PATH", name)
}

// commandError names the failed command, keeps the end of its stderr, and says what to do
// about the failures whose fix is known.
func commandError(name string, args []string, err error, stderr string) error {
	stderr = strings.TrimSpace(stderr)
	if lines := strings.Split(stderr, "\n"); len(lines) > 20 {
		stderr = strings.Join(lines[len(lines)-20:], "\n")
	}
	var detail string
	if stderr != "" {
		detail = ": " + stderr
	}
	if hint := hintFor(stderr); hint != "" {
		detail += ": " + hint
	}
	return fmt.Errorf("%s %s: %w%s", name, strings.Join(args, " "), err, detail)
}

func hintFor(stderr string) string {
	switch {
	case strings.Contains(stderr, "Cannot connect to the Docker daemon"), strings.Contains(stderr, "Is the docker daemon running"):
		return "start Docker, or use the local provider"
	case strings.Contains(stderr, "permission denied") && strings.Contains(stderr, "docker.sock"):
		return "add your user to the docker group (sudo usermod -aG docker $USER, then log in again), or run as root"
	case strings.Contains(stderr, "node(s) already exist for a cluster with the name"):
		return "run `clusters down --provider kind` first"
	}
	return ""
}

func withoutEnv(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
