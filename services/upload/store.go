package upload

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
)

// record is one upload as stored.
type record struct {
	ID            string
	VideoID       string
	Creator       string
	RequestID     string
	RequestHash   string
	Title         string
	Description   string
	Tags          []string
	Policy        *authv1.AccessPolicy
	Size          uint64
	ContentType   string
	Filename      string
	State         uploadv1.UploadState
	Offset        uint64
	SHA256        string
	MediaInfo     *metadatav1.MediaInfo
	FailureReason string
	CreateTime    time.Time
	UpdateTime    time.Time
	ExpireTime    time.Time
}

const (
	stateCreated    = uploadv1.UploadState_UPLOAD_STATE_CREATED
	stateUploading  = uploadv1.UploadState_UPLOAD_STATE_UPLOADING
	stateValidating = uploadv1.UploadState_UPLOAD_STATE_VALIDATING
	stateCompleted  = uploadv1.UploadState_UPLOAD_STATE_COMPLETED
	stateFailed     = uploadv1.UploadState_UPLOAD_STATE_FAILED
	stateCanceled   = uploadv1.UploadState_UPLOAD_STATE_CANCELED
	stateExpired    = uploadv1.UploadState_UPLOAD_STATE_EXPIRED
)

// acceptsBytes reports whether PATCH may add bytes in state s.
func acceptsBytes(s uploadv1.UploadState) bool { return s == stateCreated || s == stateUploading }

// unfinished reports whether s is CREATED, UPLOADING or VALIDATING.
func unfinished(s uploadv1.UploadState) bool { return acceptsBytes(s) || s == stateValidating }

// store keeps upload records in SQLite.
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS uploads (
	id             TEXT PRIMARY KEY,
	video_id       TEXT NOT NULL DEFAULT '',
	creator        TEXT NOT NULL,
	request_id     TEXT NOT NULL,
	request_hash   TEXT NOT NULL,
	title          TEXT NOT NULL,
	description    TEXT NOT NULL,
	tags           TEXT NOT NULL,
	policy         BLOB,
	size           INTEGER NOT NULL,
	content_type   TEXT NOT NULL,
	filename       TEXT NOT NULL,
	state          INTEGER NOT NULL,
	offset_bytes   INTEGER NOT NULL DEFAULT 0,
	sha256         TEXT NOT NULL DEFAULT '',
	media_info     BLOB,
	failure_reason TEXT NOT NULL DEFAULT '',
	create_time    INTEGER NOT NULL,
	update_time    INTEGER NOT NULL,
	expire_time    INTEGER NOT NULL,
	UNIQUE (creator, request_id)
);
CREATE INDEX IF NOT EXISTS uploads_by_creator ON uploads (creator, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS uploads_by_state ON uploads (state, expire_time);
`

func openStore(ctx context.Context, path string) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("upload: open %s: %w", path, err)
	}
	// One writer at a time is what SQLite does anyway; one connection
	// makes the limit check and the insert of CreateUpload atomic.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("upload: create schema: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

const columns = `id, video_id, creator, request_id, request_hash, title, description, tags, policy, size,
	content_type, filename, state, offset_bytes, sha256, media_info, failure_reason, create_time, update_time, expire_time`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(sc scanner) (*record, error) {
	var (
		r                     record
		tags                  string
		policy, media         []byte
		state                 int32
		size, offset          int64
		created, updated, exp int64
	)
	err := sc.Scan(&r.ID, &r.VideoID, &r.Creator, &r.RequestID, &r.RequestHash, &r.Title, &r.Description, &tags, &policy, &size,
		&r.ContentType, &r.Filename, &state, &offset, &r.SHA256, &media, &r.FailureReason, &created, &updated, &exp)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
		return nil, fmt.Errorf("upload %s: tags: %w", r.ID, err)
	}
	if policy != nil {
		r.Policy = &authv1.AccessPolicy{}
		if err := proto.Unmarshal(policy, r.Policy); err != nil {
			return nil, fmt.Errorf("upload %s: policy: %w", r.ID, err)
		}
	}
	if media != nil {
		r.MediaInfo = &metadatav1.MediaInfo{}
		if err := proto.Unmarshal(media, r.MediaInfo); err != nil {
			return nil, fmt.Errorf("upload %s: media info: %w", r.ID, err)
		}
	}
	r.State = uploadv1.UploadState(state)
	r.Size, r.Offset = uint64(size), uint64(offset)
	r.CreateTime, r.UpdateTime, r.ExpireTime = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC(), time.Unix(0, exp).UTC()
	return &r, nil
}

func marshalOrNil(m proto.Message) ([]byte, error) {
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, nil
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// get returns the record, or errNotFound.
func (s *store) get(ctx context.Context, id string) (*record, error) {
	r, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return r, err
}

// byRequest returns the creator's upload made with requestID, or nil.
func (s *store) byRequest(ctx context.Context, creator, requestID string) (*record, error) {
	r, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM uploads WHERE creator = ? AND request_id = ?`, creator, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// usage returns the bytes reserved by the creator's uploads that still
// count against the quota, and how many are unfinished.
func (s *store) usage(ctx context.Context, creator string) (reserved uint64, active int, err error) {
	var bytes int64
	err = s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state IN (?, ?, ?, ?) THEN size ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state IN (?, ?, ?) THEN 1 ELSE 0 END), 0)
		FROM uploads WHERE creator = ?`,
		stateCreated, stateUploading, stateValidating, stateCompleted,
		stateCreated, stateUploading, stateValidating, creator).Scan(&bytes, &active)
	return uint64(bytes), active, err
}

func (s *store) insert(ctx context.Context, r *record) error {
	tags, err := json.Marshal(r.Tags)
	if err != nil {
		return err
	}
	policy, err := marshalOrNil(r.Policy)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO uploads (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.VideoID, r.Creator, r.RequestID, r.RequestHash, r.Title, r.Description, string(tags), policy, int64(r.Size),
		r.ContentType, r.Filename, int32(r.State), int64(r.Offset), r.SHA256, nil, r.FailureReason,
		r.CreateTime.UnixNano(), r.UpdateTime.UnixNano(), r.ExpireTime.UnixNano())
	return err
}

func (s *store) setVideoID(ctx context.Context, id, videoID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE uploads SET video_id = ?, update_time = ? WHERE id = ?`, videoID, now.UnixNano(), id)
	return err
}

// progress records bytes received: offset, CREATED -> UPLOADING, and the
// new expiry. It changes nothing once the upload stopped accepting bytes.
func (s *store) progress(ctx context.Context, id string, offset uint64, now, expire time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE uploads SET offset_bytes = ?, state = ?, update_time = ?, expire_time = ?
		WHERE id = ? AND state IN (?, ?) AND (offset_bytes != ? OR state = ?)`,
		int64(offset), stateUploading, now.UnixNano(), expire.UnixNano(), id, stateCreated, stateUploading, int64(offset), stateCreated)
	return err
}

// transition moves the upload from one of the states in from to `to`,
// applying set (extra "col = ?" assignments with args). It reports whether
// the upload was in one of those states.
func (s *store) transition(ctx context.Context, id string, from []uploadv1.UploadState, to uploadv1.UploadState, now time.Time, set string, args ...any) (bool, error) {
	q := `UPDATE uploads SET state = ?, update_time = ?`
	if set != "" {
		q += ", " + set
	}
	all := append([]any{int32(to), now.UnixNano()}, args...)
	all = append(all, id)
	ph := make([]string, len(from))
	for i, f := range from {
		ph[i] = "?"
		all = append(all, int32(f))
	}
	q += ` WHERE id = ? AND state IN (` + strings.Join(ph, ", ") + `)`
	res, err := s.db.ExecContext(ctx, q, all...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *store) setHash(ctx context.Context, id, sum string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE uploads SET sha256 = ?, update_time = ? WHERE id = ? AND state = ?`, sum, now.UnixNano(), id, stateValidating)
	return err
}

func (s *store) setMediaInfo(ctx context.Context, id string, mi *metadatav1.MediaInfo, now time.Time) error {
	b, err := marshalOrNil(mi)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE uploads SET media_info = ?, update_time = ? WHERE id = ? AND state = ?`, b, now.UnixNano(), id, stateValidating)
	return err
}

// idsInState returns the ids of uploads in state st; with before set, only
// those expiring before it.
func (s *store) idsInState(ctx context.Context, st []uploadv1.UploadState, before time.Time) ([]string, error) {
	ph := make([]string, len(st))
	args := make([]any, 0, len(st)+1)
	for i, x := range st {
		ph[i] = "?"
		args = append(args, int32(x))
	}
	q := `SELECT id FROM uploads WHERE state IN (` + strings.Join(ph, ", ") + `)`
	if !before.IsZero() {
		q += ` AND expire_time < ?`
		args = append(args, before.UnixNano())
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY create_time`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// cursor is the position after the last upload of a page.
type cursor struct {
	CreateTime int64  `json:"t"`
	ID         string `json:"i"`
	State      int32  `json:"s"`
}

// list returns up to limit of the creator's uploads after c (nil: from the
// newest), newest first, optionally in one state.
func (s *store) list(ctx context.Context, creator string, state uploadv1.UploadState, after *cursor, limit int) ([]*record, error) {
	q := `SELECT ` + columns + ` FROM uploads WHERE creator = ?`
	args := []any{creator}
	if state != uploadv1.UploadState_UPLOAD_STATE_UNSPECIFIED {
		q += ` AND state = ?`
		args = append(args, int32(state))
	}
	if after != nil {
		q += ` AND (create_time < ? OR (create_time = ? AND id < ?))`
		args = append(args, after.CreateTime, after.CreateTime, after.ID)
	}
	q += ` ORDER BY create_time DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
