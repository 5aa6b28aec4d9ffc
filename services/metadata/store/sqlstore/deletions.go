package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/streamgate/streamgate/services/metadata/store"
)

// PendingMediaDeletions implements metadata.Store.
func (s *Store) PendingMediaDeletions(ctx context.Context, limit int) ([]store.MediaDeletion, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT video_id, requested_at FROM media_deletions WHERE done_at IS NULL ORDER BY requested_at, video_id LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: media deletions: %w", err)
	}
	defer rows.Close()
	var out []store.MediaDeletion
	for rows.Next() {
		var (
			d         store.MediaDeletion
			requested int64
		)
		if err := rows.Scan(&d.VideoID, &requested); err != nil {
			return nil, fmt.Errorf("sqlstore: media deletions: %w", err)
		}
		d.RequestTime = fromUS(requested)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: media deletions: %w", err)
	}
	return out, nil
}

// CompleteMediaDeletion implements metadata.Store.
func (s *Store) CompleteMediaDeletion(ctx context.Context, videoID string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE media_deletions SET done_at = COALESCE(done_at, ?) WHERE video_id = ?`), us(now), videoID)
	if err != nil {
		return fmt.Errorf("sqlstore: complete media deletion: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: complete media deletion: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: no media removal queued for %s", store.ErrNotFound, videoID)
	}
	return nil
}
