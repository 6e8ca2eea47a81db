package loadtest

import (
	"encoding/json"
	"testing"
	"time"
)

// A result as fortio 1.68 writes it with -json - (the fields the bench reads).
const fortioJSON = `{"RunType":"HTTP","ActualQPS":999.8,"DurationHistogram":{"Count":2000,
 "Percentiles":[{"Percentile":50,"Value":0.000251},{"Percentile":99,"Value":0.000925},{"Percentile":99.9,"Value":0.0013}]},
 "RetCodes":{"200":2000}}`

func TestFortioResult(t *testing.T) {
	var r Result
	if err := json.Unmarshal([]byte(fortioJSON), &r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Latencies()
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{251 * time.Microsecond, 925 * time.Microsecond, 1300 * time.Microsecond}
	for i := range want {
		if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("p%g = %s, want %s", Percentiles[i], got[i], want[i])
		}
	}
	r.DurationHistogram.Percentiles = r.DurationHistogram.Percentiles[:1]
	if _, err := r.Latencies(); err == nil {
		t.Error("a result without p99 was taken")
	}
}
