package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchRuns runs the whole bench, tiny: two apiservers, both link controllers and DNS,
// three single exports and twenty at once. It checks that every export became an import
// that DNS answers (run fails otherwise) and that the table has every row, not the goals: a
// tiny run on a shared machine says nothing about them.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two apiservers and two link controllers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, config{singles: 3, bulk: 20}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, row := range []string{
		"export -> ServiceImport with ClusterSetIP in west, p50 (3 single exports)",
		"export -> imported and answered in DNS, p99",
		"20 exported at once, until all imported and answered",
		"floor: the imports' writes alone",
		"CPU spent meanwhile",
		"controllers' RSS with 24 exports",
	} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("no row %q in\n%s", row, out.String())
		}
	}
}
