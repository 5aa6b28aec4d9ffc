package streaming

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/events"
)

// revocationTTL is how long a revocation is remembered: longer than any
// playback token lives.
const revocationTTL = 2 * time.Hour

type revKey struct{ videoID, address string }

// Run follows ownership.changed (auth publishes allowed=false when a
// viewer's wallet no longer satisfies a video's policy) so that tokens
// issued to that viewer before the change are refused at once rather than
// when they expire, and session.revoked, so that tokens issued to a
// session since revoked (sign-out) are refused too. Every instance sees
// every event (an ephemeral consumer), starting revocationTTL back, so an
// instance started after a revocation still honours it. It also follows
// video.changed, dropping the cached video, so a creator's new policy
// applies at once. Without a bus it only waits for ctx.
func (s *Service) Run(ctx context.Context) error {
	if s.bus == nil {
		<-ctx.Done()
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return events.Follow(ctx, s.bus, revocationTTL, func(e *eventsv1.OwnershipChanged) {
			// Either way, the key server asks auth again.
			s.forgetLicences(e.GetVideoId(), e.GetAddress())
			if e.GetAllowed() {
				return
			}
			at := s.cfg.Now()
			if e.GetOccurTime() != nil {
				at = e.GetOccurTime().AsTime()
			}
			s.revoke(e.GetVideoId(), e.GetAddress(), at)
		})
	})
	g.Go(func() error { return events.Follow(ctx, s.bus, revocationTTL, s.revokeSession) })
	// A change older than a cached video cannot be in the cache.
	g.Go(func() error {
		return events.Follow(ctx, s.bus, s.cfg.VideoCacheTTL, func(e *eventsv1.VideoChanged) { s.forgetVideo(e.GetVideo().GetId()) })
	})
	return g.Wait()
}

// forgetVideo drops the cached video id (video.changed): its next request
// reads the policy and status metadata now holds.
func (s *Service) forgetVideo(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

func (s *Service) revoke(videoID, address string, at time.Time) {
	k := revKey{videoID, strings.ToLower(address)}
	now := s.cfg.Now()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for k2, t := range s.revoked {
		if now.Sub(t) > revocationTTL {
			delete(s.revoked, k2)
		}
	}
	if prev, ok := s.revoked[k]; !ok || at.After(prev) {
		s.revoked[k] = at
	}
	// Verified tokens of that viewer must be checked again.
	s.tmu.Lock()
	clear(s.tokens)
	s.tmu.Unlock()
}

// isRevoked reports whether the token was issued before its viewer lost
// access to the video, or to a session since revoked (signed out).
func (s *Service) isRevoked(videoID string, c *authtoken.PlaybackClaims) bool {
	s.rmu.Lock()
	if c.SessionID != "" && s.sessionRevoked(c.SessionID) {
		s.rmu.Unlock()
		return true
	}
	at, ok := s.revoked[revKey{videoID, strings.ToLower(c.Address)}]
	s.rmu.Unlock()
	if !ok {
		return false
	}
	return c.IssuedAt == nil || !c.IssuedAt.After(at)
}
