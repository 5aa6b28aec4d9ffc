package streaming

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
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
// instance started after a revocation still honours it. Without a bus it
// only waits for ctx.
func (s *Service) Run(ctx context.Context) error {
	if s.bus == nil {
		<-ctx.Done()
		return nil
	}
	delay := 100 * time.Millisecond
	for {
		start := time.Now().Add(-revocationTTL) // the stream's clock, not a test clock
		cons, err := s.bus.JetStream().OrderedConsumer(ctx, "ACCESS", jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"ownership.changed", "session.revoked"},
			DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
			OptStartTime:   &start,
		})
		if err == nil {
			var cc jetstream.ConsumeContext
			cc, err = cons.Consume(func(m jetstream.Msg) {
				if m.Subject() == "session.revoked" {
					var e eventsv1.SessionRevoked
					if proto.Unmarshal(m.Data(), &e) == nil {
						s.revokeSession(&e)
					}
					return
				}
				var e eventsv1.OwnershipChanged
				if proto.Unmarshal(m.Data(), &e) != nil || e.GetAllowed() {
					return
				}
				at := s.cfg.Now()
				if e.GetOccurTime() != nil {
					at = e.GetOccurTime().AsTime()
				}
				s.revoke(e.GetVideoId(), e.GetAddress(), at)
			})
			if err == nil {
				s.logger.InfoContext(ctx, "following ownership changes")
				<-ctx.Done()
				cc.Stop()
				return nil
			}
		}
		s.logger.WarnContext(ctx, "cannot follow ownership changes; retrying", "err", err, "delay", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
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
