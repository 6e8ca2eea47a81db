package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns nil or timeout passes, then fails the test naming
// what was awaited and the last thing cond said. It is how tests wait: on a condition with a
// deadline, never a sleep.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	EventuallyEvery(t, timeout, 50*time.Millisecond, what, cond)
}

// EventuallyEvery is Eventually with a pause of every between tries, for a cond that costs
// much (a CLI run, queries to servers) or that cannot change faster than every; it never
// pauses past the deadline.
func EventuallyEvery(t testing.TB, timeout, every time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().Add(every).After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(every)
	}
}
