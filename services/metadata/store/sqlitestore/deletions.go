package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/streamgate/streamgate/services/metadata/store"
)

// CompleteMediaDeletion implements metadata.Store.
func (s *Store) CompleteMediaDeletion(ctx context.Context, videoID string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE media_deletions SET done_at = COALESCE(done_at, ?) WHERE video_id = ?`, now.UnixMicro(), videoID)
	if err != nil {
		return fmt.Errorf("sqlitestore: complete media deletion: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitestore: complete media deletion: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: no media removal queued for %s", store.ErrNotFound, videoID)
	}
	return nil
}
