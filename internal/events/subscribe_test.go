package events

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

func TestBackoff(t *testing.T) {
	opts, err := SubscribeOptions{Backoff: []time.Duration{time.Second, 5 * time.Second}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber[*eventsv1.UploadCompleted]{opts: opts}
	tests := []struct {
		delivered uint64
		want      time.Duration
	}{
		{0, time.Second}, // not sent by JetStream, but must not underflow
		{1, time.Second},
		{2, 5 * time.Second},
		{9, 5 * time.Second}, // the last value repeats
	}
	for _, tt := range tests {
		if got := s.backoff(tt.delivered); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.delivered, got, tt.want)
		}
	}
}

func TestSubscribeOptionsDefaults(t *testing.T) {
	got, err := SubscribeOptions{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(SubscribeOptions{
		AckWait:     30 * time.Second,
		MaxDeliver:  10,
		Backoff:     []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute},
		Concurrency: 1,
	})
	if fmt.Sprint(got) != want {
		t.Errorf("defaults = %v, want %v", got, want)
	}
	for _, bad := range []SubscribeOptions{
		{AckWait: -time.Second},
		{Concurrency: -1},
		{Backoff: []time.Duration{-time.Second}},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("withDefaults(%+v) succeeded, want an error", bad)
		}
	}
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	cause := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}
	err := fmt.Errorf("index video: %w", Permanent(cause))
	if !errors.Is(err, ErrPermanent) {
		t.Error("errors.Is(err, ErrPermanent) = false")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("the cause is not reachable with errors.Is")
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe != cause {
		t.Error("the cause is not reachable with errors.As")
	}
	if errors.Is(errors.New("timeout"), ErrPermanent) {
		t.Error("a plain error counts as permanent")
	}
}

func TestValidDurable(t *testing.T) {
	for name, want := range map[string]bool{
		"metadata":          true,
		"search-indexer_v2": true,
		"":                  false,
		"a.b":               false,
		"a b":               false,
		"a*":                false,
		"a>":                false,
	} {
		if got := validDurable(name); got != want {
			t.Errorf("validDurable(%q) = %t, want %t", name, got, want)
		}
	}
}

func TestReconnectDelay(t *testing.T) {
	for attempts, want := range map[int]time.Duration{0: 100 * time.Millisecond, 3: 800 * time.Millisecond, 6: 5 * time.Second, 1000: 5 * time.Second} {
		got := reconnectDelay(attempts)
		if got < want || got > want+want/5 {
			t.Errorf("reconnectDelay(%d) = %s, want %s plus at most 20%%", attempts, got, want)
		}
	}
}

func TestHeaderCarrierIgnoresCase(t *testing.T) {
	h := nats.Header{"TraceParent": []string{"00-abc-def-01"}}
	if got := headerCarrier(h).Get("traceparent"); got != "00-abc-def-01" {
		t.Errorf(`Get("traceparent") = %q, want the value stored under "TraceParent"`, got)
	}
}
