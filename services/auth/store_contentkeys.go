package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/secretbox"
)

// A video's content keys, one per scope: the packager encrypts the
// segments of the free preview under the preview key and the rest under
// the full key, so the key server can give a viewer without the pass the
// preview and nothing more.
const (
	scopeFull    = "full"
	scopePreview = "preview"
)

var contentKeyScopes = []string{scopeFull, scopePreview}

// contentKey is a video's content key of one scope, in clear.
type contentKey struct {
	VideoID string
	Scope   string
	Key     cenc.Key
	Created time.Time
}

// contentKeyContext binds a sealed content key to its row: a key copied
// into another video's row (or scope) does not open there.
func contentKeyContext(videoID, scope string, kid []byte) []byte {
	return []byte("streamgate/auth/content_key\x00" + videoID + "\x00" + scope + "\x00" + hex.EncodeToString(kid))
}

// ensureContentKeys returns the video's keys of the scopes asked, making
// the missing ones. Instances racing to make a key agree on the first
// one stored (the insert does nothing on conflict, then all read it).
func (s *store) ensureContentKeys(ctx context.Context, videoID string, scopes []string, now time.Time) ([]contentKey, error) {
	for _, scope := range scopes {
		if !slices.Contains(contentKeyScopes, scope) {
			return nil, fmt.Errorf("auth: unknown content key scope %q", scope)
		}
		k := cenc.NewKey()
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO content_keys (video_id, scope, kid, key, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT (video_id, scope) DO NOTHING`),
			videoID, scope, k.ID[:], s.sealContentKey(videoID, scope, k), ms(now)); err != nil {
			return nil, err
		}
	}
	keys, err := s.contentKeys(ctx, videoID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(keys, func(k contentKey) bool { return !slices.Contains(scopes, k.Scope) }), nil
}

// contentKeys returns the video's stored keys, none made.
func (s *store) contentKeys(ctx context.Context, videoID string) ([]contentKey, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT scope, kid, key, created FROM content_keys WHERE video_id = ? ORDER BY scope`), videoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []contentKey
	for rows.Next() {
		var scope string
		var kid, stored []byte
		var created int64
		if err := rows.Scan(&scope, &kid, &stored, &created); err != nil {
			return nil, err
		}
		k, err := s.openContentKey(videoID, scope, kid, stored)
		if err != nil {
			return nil, err
		}
		out = append(out, contentKey{VideoID: videoID, Scope: scope, Key: k, Created: fromMS(created)})
	}
	return out, rows.Err()
}

// deleteContentKeys forgets the video's keys: whatever copies of its
// encrypted segments remain (a CDN, a backup of the media store) can no
// longer be played.
func (s *store) deleteContentKeys(ctx context.Context, videoID string) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM content_keys WHERE video_id = ?`), videoID)
	if err != nil {
		return 0, err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM content_key_previews WHERE video_id = ?`), videoID); err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// notePreviewKey records that the packager encrypts seconds of the video
// under its preview key, keeping the longest: every attempt's segments
// may be out there.
func (s *store) notePreviewKey(ctx context.Context, videoID string, seconds uint32) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO content_key_previews (video_id, seconds) VALUES (?, ?)
ON CONFLICT (video_id) DO UPDATE SET
	seconds = CASE WHEN excluded.seconds > content_key_previews.seconds THEN excluded.seconds ELSE content_key_previews.seconds END`),
		videoID, int64(seconds))
	return err
}

// previewKeySeconds is the longest preview the video's preview key
// encrypts (0: none recorded).
func (s *store) previewKeySeconds(ctx context.Context, videoID string) (uint32, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT seconds FROM content_key_previews WHERE video_id = ?`), videoID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint32(n), err
}

func (s *store) sealContentKey(videoID, scope string, k cenc.Key) []byte {
	if s.kek == nil {
		return slices.Clone(k.Key[:])
	}
	return s.kek.Seal(k.Key[:], contentKeyContext(videoID, scope, k.ID[:]))
}

// openContentKey reads a stored key: clear (16 bytes, without a KEK:
// tests and dev) or sealed.
func (s *store) openContentKey(videoID, scope string, kid, stored []byte) (cenc.Key, error) {
	var k cenc.Key
	if len(kid) != cenc.KeySize {
		return k, fmt.Errorf("auth: content key of %s (%s): key id has %d bytes", videoID, scope, len(kid))
	}
	copy(k.ID[:], kid)
	raw := stored
	switch {
	case len(stored) == cenc.KeySize:
	case !secretbox.IsSealed(stored):
		return k, fmt.Errorf("auth: content key of %s (%s) has %d bytes and is not sealed", videoID, scope, len(stored))
	case s.kek == nil:
		return k, fmt.Errorf("auth: content key of %s (%s) is encrypted, and no key-encryption key is configured (--kek-file or $STREAMGATE_KEK)", videoID, scope)
	default:
		var err error
		if raw, err = s.kek.Open(stored, contentKeyContext(videoID, scope, kid)); err != nil {
			return k, fmt.Errorf("auth: content key of %s (%s) cannot be decrypted with the configured key-encryption key: %w", videoID, scope, err)
		}
		if len(raw) != cenc.KeySize {
			return k, fmt.Errorf("auth: content key of %s (%s): decrypted key has %d bytes", videoID, scope, len(raw))
		}
	}
	copy(k.Key[:], raw)
	return k, nil
}

// sealContentKeys seals under the current KEK every content key stored in
// clear or under an older KEK (a rotation), as sealKeys does for signing
// keys. Each update is conditional on the stored value, so instances
// doing it at once do not undo each other.
func (s *store) sealContentKeys(ctx context.Context) (resealed int, err error) {
	if s.kek == nil {
		return 0, nil
	}
	type row struct {
		videoID, scope string
		kid, stored    []byte
	}
	var stale []row
	rows, err := s.db.QueryContext(ctx, `SELECT video_id, scope, kid, key FROM content_keys`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.videoID, &r.scope, &r.kid, &r.stored); err != nil {
			rows.Close()
			return 0, err
		}
		if !s.kek.SealedWithCurrent(r.stored) {
			stale = append(stale, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range stale {
		k, err := s.openContentKey(r.videoID, r.scope, r.kid, r.stored)
		if err != nil {
			return resealed, err
		}
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE content_keys SET key = ? WHERE video_id = ? AND scope = ? AND key = ?`),
			s.sealContentKey(r.videoID, r.scope, k), r.videoID, r.scope, r.stored)
		if err != nil {
			return resealed, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			resealed++
		}
	}
	return resealed, nil
}
