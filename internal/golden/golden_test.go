package golden

import (
	"path/filepath"
	"testing"
)

func TestFirstDiff(t *testing.T) {
	tests := []struct{ want, got, diff string }{
		{"a\nb\n", "a\nb\n", "(same lines)"},
		{"a\nb\n", "a\nc\n", "line 2:\n  want \"b\"\n  got  \"c\""},
		{"a\n", "a\nb\n", "line 2:\n  want \"\"\n  got  \"b\""},
	}
	for _, tt := range tests {
		if d := FirstDiff(tt.want, tt.got); d != tt.diff {
			t.Errorf("FirstDiff(%q, %q) = %q, want %q", tt.want, tt.got, d, tt.diff)
		}
	}
}

func TestCheckUpdatesThenMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	Check(t, path, "hello\n", true)
	Check(t, path, "hello\n", false)
}
