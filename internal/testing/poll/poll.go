// Package poll waits in tests for a condition that has no change signal:
// it checks, backs off and fails the test at a deadline. It is imported
// only from _test.go files.
package poll

import (
	"errors"
	"time"
)

// Polling starts fast, so conditions that hold almost at once cost little
// wall time, and backs off, so a condition that is slow to check (a CLI run,
// an RPC) does not take a core from the code it is waiting on.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 100 * time.Millisecond
)

var errNotYet = errors.New("condition not met")

// TB is the part of testing.TB the helpers use, so their own tests can
// record a failure instead of failing.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Until polls cond until it returns true or timeout passes; then it
// fails t with Fatalf, naming what it waited for. cond is always called at
// least once, and once more at the deadline. Call it from the test's own
// goroutine: a failure stops that goroutine. For state that has a change
// signal (a channel, a watch), wait on the signal instead.
func Until(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	wait(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}, false)
}

// UntilNil is Until for a check that says why it does not hold
// yet: it polls fn until it returns nil, and on timeout reports fn's last
// error.
func UntilNil(t TB, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	wait(t, timeout, what, fn, true)
}

func wait(t TB, timeout time.Duration, what string, fn func() error, withErr bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for {
		err := fn()
		if err == nil {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			if withErr {
				t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			} else {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			return // a recorder's Fatalf may return
		}
		time.Sleep(min(interval, left))
		interval = min(2*interval, maxInterval)
	}
}
