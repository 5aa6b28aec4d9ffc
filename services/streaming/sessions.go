package streaming

import (
	"time"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

// maxRevokedSessions bounds the revoked sessions remembered; entries leave
// when the session's tokens expire (minutes), so it fills only under a
// flood of sign-outs.
const maxRevokedSessions = 100_000

// revokeSession refuses playback tokens issued to a session auth revoked
// (session.revoked) until the latest expiry any of them can have.
func (s *Service) revokeSession(e *eventsv1.SessionRevoked) {
	id, until := e.GetSessionId(), e.GetExpireTime().AsTime()
	if e.GetExpireTime() == nil {
		until = s.cfg.Now().Add(revocationTTL)
	}
	now := s.cfg.Now()
	if id == "" || !until.After(now) {
		return
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if prev, ok := s.revokedSessions[id]; ok && !until.After(prev) {
		return
	}
	if _, ok := s.revokedSessions[id]; !ok && len(s.revokedSessions) >= maxRevokedSessions {
		var first string
		var firstUntil time.Time
		for k, u := range s.revokedSessions {
			if !u.After(now) {
				delete(s.revokedSessions, k)
				continue
			}
			if firstUntil.IsZero() || u.Before(firstUntil) {
				first, firstUntil = k, u
			}
		}
		if len(s.revokedSessions) >= maxRevokedSessions {
			delete(s.revokedSessions, first)
			s.logger.Warn("revoked-session list full: evicted the entry expiring first", "max", maxRevokedSessions)
		}
	}
	s.revokedSessions[id] = until
}

// sessionRevoked reports whether tokens of the session are refused now.
// Called with rmu held.
func (s *Service) sessionRevoked(id string) bool {
	until, ok := s.revokedSessions[id]
	if !ok {
		return false
	}
	if !s.cfg.Now().Before(until) {
		delete(s.revokedSessions, id)
		return false
	}
	return true
}
