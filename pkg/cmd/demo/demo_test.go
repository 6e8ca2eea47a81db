package demo

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/meshfed/internal/golden"
	"github.com/meshfed/meshfed/pkg/cmd/cmdutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestDemoInstallGolden(t *testing.T) {
	var out bytes.Buffer
	cmd := NewCmdDemo(cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	cmd.SetArgs([]string{"install"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "install.golden"), out.String(), *update)
	docs, err := cmdutil.DecodeDocuments(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.GetKind()]++
	}
	if kinds["Deployment"] != 4 || kinds["Service"] != 3 || kinds["ServiceAccount"] != 4 {
		t.Errorf("kinds %v; want 4 Deployments, 3 Services, 4 ServiceAccounts", kinds)
	}
}

func runDemo(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := NewCmdDemo(cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	cmd.SetArgs(append([]string{"install"}, args...))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// Split across two clusters: voting alone and exported in one, the rest calling its mirror
// in the other; together they are the whole demo.
func TestDemoInstallSplit(t *testing.T) {
	only, err := runDemo(t, "--voting-only")
	if err != nil {
		t.Fatal(err)
	}
	in, err := runDemo(t, "--voting-in", "east")
	if err != nil {
		t.Fatal(err)
	}
	objects := func(s string) map[string]map[string]any {
		docs, err := cmdutil.DecodeDocuments([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]map[string]any{}
		for _, d := range docs {
			m[d.GetKind()+"/"+d.GetName()] = d.Object
		}
		return m
	}
	votingSide, webSide := objects(only), objects(in)
	for _, k := range []string{"Namespace/meshfed-demo", "ServiceAccount/voting", "Service/voting", "Deployment/voting"} {
		if votingSide[k] == nil {
			t.Errorf("--voting-only lacks %s", k)
		}
	}
	if len(votingSide) != 4 {
		t.Errorf("--voting-only prints %d objects, want voting's 3 and the namespace", len(votingSide))
	}
	if got := votingSide["Service/voting"]["metadata"].(map[string]any)["labels"].(map[string]any)["mirror.meshfed.io/exported"]; got != "true" {
		t.Errorf("voting is not exported: label %v", got)
	}
	for _, k := range []string{"Service/voting", "Deployment/voting"} {
		if webSide[k] != nil {
			t.Errorf("--voting-in east prints %s", k)
		}
	}
	if !strings.Contains(in, "voting-east.meshfed-demo.svc.cluster.local:8080") {
		t.Error("--voting-in east: web does not call voting-east")
	}

	for _, bad := range [][]string{{"--voting-in", "East"}, {"--voting-in", "east", "--voting-only"}} {
		if out, err := runDemo(t, bad...); err == nil || !strings.Contains(err.Error(), "--voting-") {
			t.Errorf("%v: error %v, output %d bytes; want an error naming the flag", bad, err, len(out))
		}
	}
}
