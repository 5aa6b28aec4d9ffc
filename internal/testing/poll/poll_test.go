package poll_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/testing/poll"
)

// Tests pass their *testing.T or testing.TB straight in.
var (
	_ poll.TB = (*testing.T)(nil)
	_ poll.TB = testing.TB(nil)
)

// recorder stands in for a test, recording a failure instead of failing.
type recorder struct {
	fatals []string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
}

func TestEventuallyFailsWhenConditionNeverHolds(t *testing.T) {
	var r recorder
	calls := 0
	poll.Until(&r, 50*time.Millisecond, "the impossible", func() bool { calls++; return false })
	if len(r.fatals) != 1 {
		t.Fatalf("Fatalf called %d times (%q), want once", len(r.fatals), r.fatals)
	}
	if want := "timed out after 50ms waiting for the impossible"; r.fatals[0] != want {
		t.Errorf("failure message %q, want %q", r.fatals[0], want)
	}
	// Once at the start and once at the deadline at least.
	if calls < 2 {
		t.Errorf("cond called %d times, want at least 2", calls)
	}
}

func TestEventuallyErrReportsLastError(t *testing.T) {
	var r recorder
	calls := 0
	poll.UntilNil(&r, 50*time.Millisecond, "a healthy backend", func() error {
		calls++
		return fmt.Errorf("attempt %d: connection refused", calls)
	})
	if len(r.fatals) != 1 {
		t.Fatalf("Fatalf called %d times (%q), want once", len(r.fatals), r.fatals)
	}
	want := fmt.Sprintf("timed out after 50ms waiting for a healthy backend: attempt %d: connection refused", calls)
	if r.fatals[0] != want {
		t.Errorf("failure message %q, want %q", r.fatals[0], want)
	}
}

func TestEventuallyPassesOnceConditionHolds(t *testing.T) {
	var r recorder
	calls := 0
	poll.Until(&r, time.Minute, "the third call", func() bool { calls++; return calls == 3 })
	if len(r.fatals) != 0 {
		t.Errorf("failed: %q", r.fatals)
	}
	if calls != 3 {
		t.Errorf("cond called %d times, want 3: polling goes on after it holds", calls)
	}

	errCalls := 0
	poll.UntilNil(&r, time.Minute, "the second call", func() error {
		errCalls++
		if errCalls < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if len(r.fatals) != 0 {
		t.Errorf("failed: %q", r.fatals)
	}
	if errCalls != 2 {
		t.Errorf("fn called %d times, want 2", errCalls)
	}
}

func TestEventuallyChecksOnceWithNoTime(t *testing.T) {
	var r recorder
	calls := 0
	poll.Until(&r, 0, "what already holds", func() bool { calls++; return true })
	if len(r.fatals) != 0 || calls != 1 {
		t.Errorf("with a zero timeout and a true cond: fatals %q, calls %d; want none and 1", r.fatals, calls)
	}
	poll.Until(&r, 0, "what never holds", func() bool { return false })
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "what never holds") {
		t.Errorf("with a zero timeout and a false cond: fatals %q; want one naming it", r.fatals)
	}
}
