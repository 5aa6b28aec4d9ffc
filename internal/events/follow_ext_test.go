package events_test

import (
	"context"
	"testing"
	"time"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
)

// TestFollow: every follower sees every event, those published within the
// lookback before it started included.
func TestFollow(t *testing.T) {
	_, b := startBus(t)
	if err := b.Publish(t.Context(), uploadCompleted("before")); err != nil {
		t.Fatal(err)
	}
	follow := func() <-chan string {
		got := make(chan string, 8)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- events.Follow(ctx, b, time.Hour, func(e *eventsv1.UploadCompleted) { got <- e.GetUploadId() })
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Follow: %v", err)
			}
		})
		return got
	}
	f1, f2 := follow(), follow()
	for _, f := range []<-chan string{f1, f2} {
		if id := receive(t, f, "the event from before"); id != "before" {
			t.Errorf("first event %q, want before", id)
		}
	}
	if err := b.Publish(t.Context(), uploadCompleted("after")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []<-chan string{f1, f2} {
		if id := receive(t, f, "the event from after"); id != "after" {
			t.Errorf("second event %q, want after", id)
		}
	}
}
