package viz

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		h    histogram
		q    float64
		want *float64
	}{
		{"empty", histogram{}, 0.5, nil},
		{"no observation", histogram{0.1: 0, inf: 0}, 0.5, nil},
		{"no +Inf bucket", histogram{0.1: 3}, 0.5, nil},
		// 10 in (0, 0.1], 10 in (0.1, 0.2]: the median is the first bucket's top.
		{"median at a bound", histogram{0.1: 10, 0.2: 20, inf: 20}, 0.5, ptr(0.1)},
		// 95th of 20: rank 19, 9 into the second bucket of 10.
		{"interpolated", histogram{0.1: 10, 0.2: 20, inf: 20}, 0.95, ptr(0.19)},
		{"first bucket from zero", histogram{0.1: 10, inf: 10}, 0.5, ptr(0.05)},
		{"in +Inf: highest finite bound", histogram{0.1: 1, 0.2: 1, inf: 10}, 0.99, ptr(0.2)},
		{"made monotonic", histogram{0.1: 10, 0.2: 9, 0.4: 20, inf: 20}, 0.75, ptr(0.3)},
		{"q above 1", histogram{0.1: 1, inf: 1}, 2, ptr(inf)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.quantile(tt.q)
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil:
				t.Fatalf("quantile(%v) = %v, want %v", tt.q, fmtPtr(got), fmtPtr(tt.want))
			case math.Abs(*got-*tt.want) > 1e-9 && !(math.IsInf(*got, 1) && math.IsInf(*tt.want, 1)):
				t.Fatalf("quantile(%v) = %v, want %v", tt.q, *got, *tt.want)
			}
		})
	}
}

func fmtPtr(p *float64) any {
	if p == nil {
		return "nil"
	}
	return *p
}
