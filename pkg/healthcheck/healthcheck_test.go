package healthcheck

import (
	"context"
	"errors"
	"testing"
	"time"
)

// With a deadline, a failing check is tried again until it passes.
func TestRunnerRetries(t *testing.T) {
	calls := 0
	flaky := Check{Description: "flaky", Fatal: true, Run: func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}}
	r := &Runner{Deadline: time.Now().Add(time.Minute), RetryEvery: time.Millisecond}
	if !r.Run(context.Background(), Category{Name: "c", Checks: []Check{flaky}}) || calls != 3 {
		t.Errorf("ran %d times: want success on the third", calls)
	}

	calls = 0
	r = &Runner{Deadline: time.Now(), RetryEvery: time.Millisecond}
	if r.Run(context.Background(), Category{Name: "c", Checks: []Check{flaky, flaky}}) || calls != 1 {
		t.Errorf("ran %d times with no time to wait: want one failure, and the fatal failure to skip the next", calls)
	}
	if _, failed := r.Counts(); failed != 1 {
		t.Errorf("%d failed, want 1", failed)
	}
}

// OnceOK remembers a success, never a failure.
func TestOnceOK(t *testing.T) {
	calls := 0
	f := OnceOK(func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("first fails")
		}
		return calls, nil
	})
	ctx := context.Background()
	if _, err := f(ctx); err == nil {
		t.Fatal("first call succeeded")
	}
	if v, err := f(ctx); err != nil || v != 2 {
		t.Fatalf("second call: %d %v", v, err)
	}
	if v, _ := f(ctx); v != 2 || calls != 2 {
		t.Errorf("third call: %d after %d calls, want the second's 2 remembered", v, calls)
	}
}
