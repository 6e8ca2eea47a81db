package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRefusesBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"get"}, "get needs one URL"},
		{[]string{"resolve", "a", "b"}, "resolve needs one name"},
		{[]string{"load-start"}, "load-start needs one URL"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
