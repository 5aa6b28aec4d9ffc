// Package metadata implements streamgate.metadata.v1.MetadataService: the
// catalogue of videos, their renditions and access policies, on SQLite
// (default) or PostgreSQL, with full-text search.
//
// # Storage
//
// The Store interface is implemented once, by store/sqlstore: its queries
// and the video state machine (every transition a conditional write whose
// affected rows decide) are written once, and a small dialect says what
// differs between SQLite (modernc.org/sqlite, WAL, FTS5) and PostgreSQL
// (pgx, tsvector with a GIN index). store/storetest runs on both engines.
// Each engine has versioned migrations applied in one transaction at open
// and recorded in schema_migrations. OpenStore picks the engine from the
// database URL.
//
// # Lifecycle
//
// CreateVideo (called by upload) records a video as UPLOADING, idempotently
// on (creator, request_id). Events then move it: upload.completed to
// PROCESSING (an event for a video metadata never had is dropped),
// transcode.completed to READY with its ladder, transcode.failed and
// upload.failed to FAILED with the reason. After READY and FAILED the
// service publishes video.ready / video.failed with the stable event ids
// "video.ready:<video_id>" and "video.failed:<video_id>". Transitions are
// guarded in SQL, so redelivered or stale events change nothing (see Run).
//
// Only a video's creator may update or delete it. UpdateVideo needs the
// etag of the version it read (ABORTED otherwise). DeleteVideo is a soft
// delete: status DELETED with reason "deleted by creator", and a row in
// the media_deletions outbox, written in the same transaction, that the
// worker service drains to remove the media. A DELETED video is NOT_FOUND
// to everyone but its creator and operators, and no event moves it again.
//
// # What others see of a gated video
//
// A gated video's catalogue entry is public, as the contract says: anyone
// may read its title, description, tags, duration, poster path, the
// rendition ladder (names, sizes, codecs, bandwidths), the manifest and
// storyboard paths and the access policy itself. That is what a viewer
// needs to decide to buy the pass, and the policy tells them which token
// to buy. Paths are names, not capabilities: every byte behind them other
// than the poster (playlists, segments, storyboard sprites) is served by
// the streaming service only with a playback token, which auth issues only
// to holders. What others never see, gated or not, is the upload id: it
// belongs to the creator's upload records. The creator and operators see
// everything. TestGatedVideoView pins this down.
//
// # Pagination
//
// ListVideos pages with keyset cursors on (create_time, id); SearchVideos
// with offsets, up to 1000 results. Page tokens are bound to the filters
// (or query) they were issued for; see cursor.go.
package metadata
