package edge

import (
	"errors"
	"sync"
	"time"
)

// maxRevokedSessions bounds the denylist. Entries leave it when their
// tokens expire (minutes), so it fills only under a flood of sign-outs.
const maxRevokedSessions = 100_000

var errSessionRevoked = errors.New("session revoked: sign in again")

// revokedSessions is the edge's denylist: sessions auth revoked whose
// tokens still verify, each until the last of them expires.
type revokedSessions struct {
	mu  sync.Mutex
	now func() time.Time
	max int
	m   map[string]time.Time // session id -> expiry bound of its tokens
}

func newRevokedSessions(now func() time.Time, maxEntries int) *revokedSessions {
	return &revokedSessions{now: now, max: maxEntries, m: map[string]time.Time{}}
}

// add denies id until until. It reports whether a live entry had to be
// evicted to make room (the one expiring first, the least harm).
func (d *revokedSessions) add(id string, until time.Time) (evicted bool) {
	now := d.now()
	if id == "" || !until.After(now) {
		return false // its tokens have expired already
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.m[id]; ok {
		if until.After(prev) {
			d.m[id] = until
		}
		return false
	}
	if len(d.m) >= d.max {
		var first string
		var firstUntil time.Time
		for k, u := range d.m {
			if !u.After(now) {
				delete(d.m, k)
				continue
			}
			if firstUntil.IsZero() || u.Before(firstUntil) {
				first, firstUntil = k, u
			}
		}
		if len(d.m) >= d.max {
			delete(d.m, first)
			evicted = true
		}
	}
	d.m[id] = until
	return evicted
}

// has reports whether id is denied now; an entry past its bound is
// dropped.
func (d *revokedSessions) has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.m[id]
	if !ok {
		return false
	}
	if !d.now().Before(until) {
		delete(d.m, id)
		return false
	}
	return true
}

func (d *revokedSessions) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// RevokeSession makes the edge refuse session tokens of the session id
// (Unauthenticated) until until, the latest expiry any of its tokens can
// have; the entry is dropped after that, when the tokens no longer verify
// anyway. FollowRevocations calls it for every session.revoked event.
func (e *Edge) RevokeSession(id string, until time.Time) {
	if e.revoked.add(id, until) {
		e.logger.Warn("revoked-session list full: evicted the entry expiring first", "max", e.revoked.max)
	}
}
