package progress

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSteps(t *testing.T) {
	tests := []struct {
		name string
		err  error
		took time.Duration
		want string
	}{
		{"ok", nil, 2100 * time.Millisecond, "• Starting control plane (west) ...\n✓ Starting control plane (west) 2.1s\n"},
		{"failed", errors.New("boom"), 300 * time.Millisecond, "• Starting control plane (west) ...\n✗ Starting control plane (west) 0.3s\n"},
		{"long", nil, 90 * time.Second, "• Starting control plane (west) ...\n✓ Starting control plane (west) 1m30s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := New(&buf)
			now := time.Unix(0, 0)
			p.now = func() time.Time { return now }
			step := p.Start("Starting control plane (west)")
			now = now.Add(tt.took)
			if err := step.End(tt.err); err != tt.err {
				t.Errorf("End returned %v, want %v", err, tt.err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("printed %q, want %q", got, tt.want)
			}
		})
	}
}
