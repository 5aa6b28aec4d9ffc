package edge

import (
	"context"
	"time"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
)

// revocationLookback is how far back FollowRevocations starts reading:
// longer than any session or playback token lives, so an instance that
// starts (or restarts) after a sign-out still learns of it. Older events
// are replayed harmlessly, their expiry being past.
const revocationLookback = 24 * time.Hour

// FollowRevocations feeds RevokeSession from session.revoked until ctx is
// done; every gateway instance sees every revocation (events.Follow).
func (e *Edge) FollowRevocations(ctx context.Context, bus *events.Bus) error {
	return events.Follow(ctx, bus, revocationLookback, func(ev *eventsv1.SessionRevoked) {
		until := ev.GetExpireTime().AsTime()
		if ev.GetExpireTime() == nil {
			// No bound given: keep it as long as anything is replayed.
			until = ev.GetOccurTime().AsTime().Add(revocationLookback)
		}
		e.RevokeSession(ev.GetSessionId(), until)
	})
}
