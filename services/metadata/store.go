package metadata

import (
	"context"
	"time"

	"github.com/streamgate/streamgate/services/metadata/store"
)

// Store is the relational storage the service needs. store/sqlstore
// implements it on SQLite and PostgreSQL; store/storetest is the suite it
// passes on both. Errors wrap
// store.ErrNotFound, store.ErrConflict or store.ErrExists where those apply.
type Store interface {
	// CreateVideo inserts v. When v.RequestID is set and (v.Creator,
	// v.RequestID) already exists, it returns that video instead and
	// created is false. An id that exists is ErrExists.
	CreateVideo(ctx context.Context, v *store.Video) (got *store.Video, created bool, err error)
	// GetVideo returns the video, or ErrNotFound.
	GetVideo(ctx context.Context, id string) (*store.Video, error)
	// UpdateVideo writes the editable fields if the stored version equals
	// version (ErrConflict otherwise), bumping the version.
	UpdateVideo(ctx context.Context, id string, version int64, e store.Edit) (*store.Video, error)
	// DeleteVideo marks the video DELETED with reason and queues its media
	// removal, in one transaction. version 0 skips the version check. A
	// video already DELETED is returned unchanged (changed false) whatever
	// the version.
	DeleteVideo(ctx context.Context, id string, version int64, reason string) (v *store.Video, changed bool, err error)
	// MarkProcessing moves an UPLOADING video to PROCESSING with the
	// upload's facts. A video in any other state is left alone (changed
	// false); a missing one is ErrNotFound.
	MarkProcessing(ctx context.Context, p store.Processing) (v *store.Video, changed bool, err error)
	// MarkReady moves an UPLOADING or PROCESSING video to READY with its
	// ladder. Any other state is left alone (changed false).
	MarkReady(ctx context.Context, r store.Ready) (v *store.Video, changed bool, err error)
	// MarkFailed moves an UPLOADING or PROCESSING video to FAILED with
	// reason. Any other state is left alone (changed false).
	MarkFailed(ctx context.Context, id, reason string) (v *store.Video, changed bool, err error)
	// ListVideos returns up to q.Limit videos in list order.
	ListVideos(ctx context.Context, q store.ListQuery) ([]*store.Video, error)
	// SearchVideos returns up to q.Limit READY videos matching q.
	SearchVideos(ctx context.Context, q store.SearchQuery) ([]*store.Video, error)
	// PendingMediaDeletions returns up to limit queued media removals,
	// oldest first.
	PendingMediaDeletions(ctx context.Context, limit int) ([]store.MediaDeletion, error)
	// CompleteMediaDeletion marks the queued removal of the video's media
	// done at now; one already done is left as it is. A video with no
	// queued removal is ErrNotFound.
	CompleteMediaDeletion(ctx context.Context, videoID string, now time.Time) error
	// Close releases the database.
	Close() error
}
