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

// TestSessionRevocation: after auth publishes session.revoked, playback
// tokens of that session are refused (403, also when verified and cached)
// until the event's bound, while another session's tokens of the same
// viewer still play.
func TestSessionRevocation(t *testing.T) {
	store := encoded(t)
	_, bus := eventstest.Bus(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	e := newEnv(t, store, bus, readyVideo("vid_1", true))
	e.run(t)

	signedOut := e.token(t, "vid_1") // session ses_1
	oc := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	oc.SessionID = "ses_2"
	other := e.sign(t, e.key, oc)
	seg := e.srv.URL + "/play/vid_1/180p/seg-00001.m4s?token="
	if res, _ := get(t, seg+signedOut); res.StatusCode != 200 {
		t.Fatalf("before: %d", res.StatusCode)
	}
	until := e.clock.Now().Add(10*time.Minute + 30*time.Second)
	// Run's consumer starts asynchronously: publish (fresh event ids)
	// until the revocation takes effect.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := bus.Publish(ctx, &eventsv1.SessionRevoked{
			EventId: fmt.Sprintf("session.revoked:ses_1:%d", i), OccurTime: timestamppb.New(e.clock.Now()),
			SessionId: "ses_1", Address: testAddr, Reason: eventsv1.SessionRevokedReason_SESSION_REVOKED_REASON_SIGN_OUT,
			ExpireTime: timestamppb.New(until),
		}); err != nil {
			t.Fatal(err)
		}
		if res, _ := get(t, seg+signedOut); res.StatusCode == 403 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the signed-out session's token was never refused")
		case <-tick.C:
		}
	}
	if res, _ := get(t, seg+other); res.StatusCode != 200 {
		t.Errorf("another session's token: %d, want 200", res.StatusCode)
	}
	// Past the bound the entry is forgotten (a real token would have
	// expired by then; this one is re-signed to outlive it).
	e.clock.Add(11 * time.Minute)
	late := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	if res, _ := get(t, seg+e.sign(t, e.key, late)); res.StatusCode != 200 {
		t.Errorf("session token after the bound: %d, want 200", res.StatusCode)
	}
}
