package clusterscmd

import (
	"bytes"
	"strings"
	"testing"
)

// These run the command as a user would and check what it printed. None needs root: bad input
// is refused before anything is touched.
func TestBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--clusters", "West"}, `ERROR: cluster name "West" is not valid`},
		{[]string{"up", "--clusters", "west,west"}, `ERROR: cluster name "west" is given twice: name each cluster once`},
		{[]string{"up", "--clusters", ","}, "ERROR: no clusters named"},
		{[]string{"up", "--clusters", "a,b,c,d,e,f,g"}, "at most 6 fit the address plan"},
		{[]string{"load"}, "ERROR: accepts 1 arg(s), received 0"},
		{[]string{"load", "/nonexistent/image.tar"}, "ERROR: image tarball: stat /nonexistent/image.tar: no such file or directory"},
		{[]string{"tools", "kubernetes", "kubelet"}, `ERROR: unknown tool "kubelet": the tools are kubernetes, cert-manager, metallb, helm`},
		{[]string{"up", "--provider", "kube"}, `ERROR: unknown provider "kube": use local (Linux namespaces, no Docker) or kind (needs Docker and kind)`},
		{[]string{"up", "--provider", "kind", "--clusters", "West"}, `ERROR: cluster name "West" is not valid`},
		{[]string{"up", "--provider", "kind", "--clusters", "a,b,c,d,e,f,g"}, "at most 6 fit the address plan"},
		{[]string{"load", "--provider", "kind", "/nonexistent/image.tar"}, "ERROR: image tarball: stat /nonexistent/image.tar: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := Run(tt.args, &stdout, &stderr); err == nil {
				t.Fatalf("no error; stdout %q", stdout.String())
			}
			if got := stderr.String(); !strings.Contains(got, tt.want) || strings.Count(strings.TrimSpace(got), "\n") > 0 {
				t.Errorf("printed %q, want one line containing %q", got, tt.want)
			}
		})
	}
}

func TestUnknownCommandSuggests(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := Run([]string{"upp"}, &stdout, &stderr); err == nil {
		t.Fatal("no error")
	}
	if got := stderr.String(); !strings.Contains(got, `unknown command "upp"`) || !strings.Contains(got, "Did you mean this?\n\tup") {
		t.Errorf("printed %q, want the unknown command named and up suggested", got)
	}
}

func TestHelpTeaches(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := Run([]string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"clusters up --clusters west,east", "kubectl --context west get nodes", "--flat", "clusters down", "--provider kind"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help does not show %q", want)
		}
	}
}
