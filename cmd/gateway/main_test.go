package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	id := []string{"--trust-domain", "east.meshfed.local", "--namespace", "mesh-multicluster", "--service-account", "meshfed-gateway"}
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"allowed clusters", append(id, "--allow-cluster", "west", "--allow-cluster", "south=south.example.org"), ""},
		{"no allowed cluster: every caller refused", id, ""},
		{"a bad cluster", append(id, "--allow-cluster", "West"), "--allow-cluster"},
		{"no identity", []string{"--trust-domain", "", "--namespace", "", "--service-account", "", "--allow-cluster", "west"}, "make the gateway's identity"},
		{"a stray argument", append(id, "--allow-cluster", "west", "extra"), "unexpected arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args, io.Discard)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(tt.args) == len(id) {
					if len(o.allow) != 0 {
						t.Errorf("allow list %v, want none", o.allow)
					}
					return
				}
				if o.allow["south.example.org"] != "south" || o.allow["west.meshfed.local"] != "west" {
					t.Errorf("allow list %v", o.allow)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("got %v; want an error saying %q", err, tt.err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"-h"}, io.Discard, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"-allow-cluster", "-listen-addr", "-admin-addr", "-drain-timeout", "-bundle", "-token"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("help does not mention %s", f)
		}
	}
}
