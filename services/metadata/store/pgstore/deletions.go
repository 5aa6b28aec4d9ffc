package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamgate/streamgate/services/metadata/store"
)

// CompleteMediaDeletion implements metadata.Store.
func (s *Store) CompleteMediaDeletion(ctx context.Context, videoID string, now time.Time) error {
	return s.withConn(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, `UPDATE media_deletions SET done_at = COALESCE(done_at, $1) WHERE video_id = $2`, now, videoID)
		if err != nil {
			return fmt.Errorf("pgstore: complete media deletion: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no media removal queued for %s", store.ErrNotFound, videoID)
		}
		return nil
	})
}
