package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestSubjectCovers(t *testing.T) {
	tests := []struct {
		have, want string
		covers     bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{">", "a.b", true},
		{"a.b", "a.*", false},
		{"a.*", "a.*", true},
		{"a.*", "a.>", false},
		{"a.b.c", "a.b", false},
	}
	for _, tt := range tests {
		if got := subjectCovers(tt.have, tt.want); got != tt.covers {
			t.Errorf("subjectCovers(%q, %q) = %t, want %t", tt.have, tt.want, got, tt.covers)
		}
	}
}

func TestRetryStarting(t *testing.T) {
	b := &Bus{logger: slog.New(slog.DiscardHandler)}
	calls := 0
	v, err := retryStarting(t.Context(), b, "stream X", func() (int, error) {
		calls++
		switch calls {
		case 1:
			return 0, fmt.Errorf("events: create stream X: %w", context.DeadlineExceeded)
		case 2:
			return 0, &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}
		}
		return 7, nil
	})
	if v != 7 || err != nil || calls != 3 {
		t.Errorf("retryStarting through a timeout and a 503 = %d, %v after %d calls; want 7, nil after 3", v, err, calls)
	}

	calls = 0
	_, err = retryStarting(t.Context(), b, "stream X", func() (int, error) {
		calls++
		return 0, jetstream.ErrStreamNameAlreadyInUse
	})
	if calls != 1 || !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		t.Errorf("a definite answer was retried: %d calls, %v", calls, err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls = 0
	_, _ = retryStarting(ctx, b, "stream X", func() (int, error) { calls++; return 0, context.DeadlineExceeded })
	if calls != 1 {
		t.Errorf("retried %d times after the caller's context ended", calls)
	}
}
