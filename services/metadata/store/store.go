// Package store holds the values the metadata service's storage works with:
// the stored video row, list and search queries, and the errors every
// engine returns. sqlstore is the one store, on SQLite or PostgreSQL;
// storetest is the suite it must pass on both engines. The Store interface itself is declared by its
// consumer, package metadata.
package store

import (
	"errors"
	"time"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// Errors every engine returns, wrapped; match with errors.Is.
var (
	// ErrNotFound: no video has that id.
	ErrNotFound = errors.New("video not found")
	// ErrConflict: the video changed since the version the caller read.
	ErrConflict = errors.New("video changed since it was read")
	// ErrExists: a video with that id already exists.
	ErrExists = errors.New("video already exists")
)

// Status is a video's lifecycle state, with the numbers of
// streamgate.metadata.v1.VideoStatus. Engines store the number.
type Status int

// The statuses.
const (
	StatusUploading  Status = 1
	StatusProcessing Status = 2
	StatusReady      Status = 3
	StatusFailed     Status = 4
	StatusDeleted    Status = 5
)

func (s Status) String() string {
	switch s {
	case StatusUploading:
		return "UPLOADING"
	case StatusProcessing:
		return "PROCESSING"
	case StatusReady:
		return "READY"
	case StatusFailed:
		return "FAILED"
	case StatusDeleted:
		return "DELETED"
	}
	return "UNKNOWN"
}

// Video is one stored video. Nested contract values (renditions, policy,
// media info) are kept as their protobuf messages, stored as protojson.
type Video struct {
	ID           string
	Creator      string // EIP-55
	RequestID    string // CreateVideo idempotency key; empty for videos created from events
	Title        string
	Description  string
	Tags         []string // lowercased, deduplicated, in the order given
	Status       Status
	StatusReason string
	Duration     time.Duration
	Renditions   []*metadatav1.Rendition
	PosterPath   string
	Storyboard   string
	HLSPath      string
	DASHPath     string
	Policy       *authv1.AccessPolicy // nil: public
	Gated        bool                 // Policy restricts who may watch
	UploadID     string
	MediaInfo    *metadatav1.MediaInfo
	CreateTime   time.Time // UTC, microsecond precision
	UpdateTime   time.Time // UTC, microsecond precision
	Version      int64     // starts at 1, +1 on every write
	// AllowedOrigins are the normalised origins that may embed the video
	// (weborigin.NormalizeList); empty: any.
	AllowedOrigins []string
	// Packaging is the creator's choice for the transcoder (automatic,
	// clear, encrypted).
	Packaging metadatav1.Packaging
	// Encrypted: the published segments are encrypted, as
	// transcode.completed said.
	Encrypted bool
}

// Edit is the set of editable fields UpdateVideo writes.
type Edit struct {
	Title       string
	Description string
	Tags        []string
	Policy      *authv1.AccessPolicy
	Gated       bool
	// AllowedOrigins, normalised; empty: any.
	AllowedOrigins []string
	Packaging      metadatav1.Packaging
}

// Processing is what upload.completed records.
type Processing struct {
	VideoID   string
	UploadID  string
	Duration  time.Duration
	MediaInfo *metadatav1.MediaInfo
}

// Ready is what transcode.completed records.
type Ready struct {
	VideoID    string
	Renditions []*metadatav1.Rendition
	Duration   time.Duration
	PosterPath string
	Storyboard string
	HLSPath    string
	DASHPath   string
	Encrypted  bool
}

// Cursor is the position after the last row of a page in list order
// (create_time descending, then id descending).
type Cursor struct {
	CreateTime time.Time
	ID         string
}

// ListQuery selects videos for ListVideos. Zero fields do not filter.
type ListQuery struct {
	Creator  string   // EIP-55
	Statuses []Status // any of these; empty: any status
	Tag      string
	Gated    *bool
	After    *Cursor // start after this position
	Limit    int
}

// SearchQuery is a full-text query over READY videos. Words are the
// query's words, already split on anything that is not a letter, digit or
// mark; every word must match, the last one as a prefix. Results are best
// match first, ties newest first then by id, and paged by offset.
type SearchQuery struct {
	Words  []string
	Offset int
	Limit  int
}
