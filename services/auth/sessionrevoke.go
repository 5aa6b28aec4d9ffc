package auth

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

// publishTimeout bounds the publish of a revocation; it runs detached from
// the caller's context so that a client hanging up right after SignOut
// still has the revocation announced.
const publishTimeout = 5 * time.Second

// tokensValidUntil bounds the expiry of every token a session could hold
// when it is revoked at now: no token of it is signed afterwards (refresh
// and playback issuance check the session), so the longest lived one
// signed just before expires within the longer TTL, plus the leeway
// verifiers allow.
func (s *Service) tokensValidUntil(now time.Time) time.Time {
	return now.Add(max(s.cfg.SessionTTL, s.cfg.PlaybackTTL) + s.cfg.ClockSkew)
}

// announceRevoked publishes session.revoked after the store revoked the
// session, so that the gateway and streaming refuse its still unexpired
// tokens at once. The store is the truth: a failed publish is logged, and
// the tokens then stop working when they expire.
func (s *Service) announceRevoked(ctx context.Context, sess session, reason eventsv1.SessionRevokedReason) {
	if s.publisher == nil {
		return
	}
	now := s.cfg.Now()
	ev := &eventsv1.SessionRevoked{
		EventId:    "session.revoked:" + sess.ID,
		OccurTime:  timestamppb.New(now),
		SessionId:  sess.ID,
		Address:    sess.Address,
		Reason:     reason,
		ExpireTime: timestamppb.New(s.tokensValidUntil(now)),
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := s.publisher.Publish(ctx, ev); err != nil {
		s.logger.ErrorContext(ctx, "publish session.revoked failed; its tokens stay valid elsewhere until they expire",
			"session_id", sess.ID, "reason", reason.String(), "err", err)
	}
}
