package streaming_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events/eventstest"
)

// TestRevocation: after auth publishes ownership.changed (allowed=false),
// the viewer's earlier token is refused at once (also when it was verified
// and cached), and a token issued after the change, should auth grant one
// again, works.
func TestRevocation(t *testing.T) {
	store := encoded(t)
	_, bus := eventstest.Bus(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	e := newEnv(t, store, bus, readyVideo("vid_1", true))
	e.run(t)

	old := e.token(t, "vid_1")
	oc := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	oc.Address = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
	other := e.sign(t, e.key, oc)
	seg := e.srv.URL + "/play/vid_1/180p/seg-00001.m4s?token="
	if res, _ := get(t, seg+old); res.StatusCode != 200 {
		t.Fatalf("before: %d", res.StatusCode)
	}
	// Run's consumer starts asynchronously and only sees new events:
	// publish (fresh event ids) until the revocation takes effect.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := bus.Publish(ctx, &eventsv1.OwnershipChanged{
			EventId: fmt.Sprintf("ownership.changed:vid_1:%s:%d", testAddr, i), OccurTime: timestamppb.New(e.clock.Now()),
			VideoId: "vid_1", Address: testAddr, Allowed: false, BlockNumber: uint64(i),
		}); err != nil {
			t.Fatal(err)
		}
		if res, _ := get(t, seg+old); res.StatusCode == 403 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the old token was never refused")
		case <-tick.C:
		}
	}
	if res, _ := get(t, seg+other); res.StatusCode != 200 {
		t.Errorf("another viewer's token: %d", res.StatusCode)
	}
	e.clock.Add(2 * time.Minute) // iat of new tokens: after the change
	if res, _ := get(t, seg+e.token(t, "vid_1")); res.StatusCode != 200 {
		t.Errorf("token issued after the change: %d", res.StatusCode)
	}
}

// TestVideoChangedAppliesAtOnce: a public video the service has cached is
// gated by its creator; without video.changed the cache would serve it to
// anyone until it expires, and after the event it asks for a token at once.
func TestVideoChangedAppliesAtOnce(t *testing.T) {
	store := encoded(t)
	_, bus := eventstest.Bus(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	e := newEnv(t, store, bus, readyVideo("vid_1", false))
	e.run(t)

	seg := e.srv.URL + "/play/vid_1/180p/seg-00001.m4s"
	if res, _ := get(t, seg); res.StatusCode != 200 {
		t.Fatalf("public video, no token: %d", res.StatusCode)
	}
	gated := readyVideo("vid_1", true)
	e.videos.set(gated)
	if res, _ := get(t, seg); res.StatusCode != 200 {
		t.Fatalf("gated in metadata, cached as public (the clock stands still): %d, want the cached answer 200", res.StatusCode)
	}
	// Run's consumer starts asynchronously: publish (fresh event ids)
	// until the change takes effect.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := bus.Publish(ctx, &eventsv1.VideoChanged{
			EventId: fmt.Sprintf("video.changed:vid_1:%d", i), OccurTime: timestamppb.New(e.clock.Now()), Video: gated,
		}); err != nil {
			t.Fatal(err)
		}
		if res, _ := get(t, seg); res.StatusCode == 401 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the gated video was still served without a token after video.changed")
		case <-tick.C:
		}
	}
	if res, _ := get(t, seg+"?token="+e.token(t, "vid_1")); res.StatusCode != 200 {
		t.Errorf("gated video with a token: %d", res.StatusCode)
	}
}
