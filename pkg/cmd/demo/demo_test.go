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
