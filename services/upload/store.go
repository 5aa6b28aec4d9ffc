package upload

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

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

// store keeps upload records in SQL: SQLite under DataDir for one
// instance, or PostgreSQL shared by several instances. The queries are
// written once, with ? placeholders; what differs between the engines sits
// behind dialect. Times are Unix nanoseconds.
//
// Every state change is a conditional write whose affected rows decide
// (transition, progress, setVideoID), never a read followed by a write, and
// the limit check of CreateUpload runs with the insert under a per-creator
// lock, so instances sharing one PostgreSQL database stay correct.
//
// Several instances each on their own SQLite file do not share records:
// nothing at this level can tell, so run one upload instance per SQLite
// file, or give them PostgreSQL.
type store struct {
	db        *sql.DB
	d         dialect
	closePool func() // PostgreSQL: the pool under db
}

// dialect is what the two engines do differently for the same queries.
type dialect interface {
	// rebind rewrites a query's ? placeholders into the engine's.
	rebind(query string) string
	// lock takes a lock named key until tx ends, serializing the
	// transactions of every instance that takes the same key. SQLite,
	// with one connection and one instance, is serial already.
	lock(ctx context.Context, tx *sql.Tx, key string) error
}

// openStore opens the PostgreSQL database at cfg.DatabaseURL, or else the
// SQLite file cfg.DBPath, and creates the schema if needed.
func openStore(ctx context.Context, cfg Config) (*store, error) {
	if cfg.DatabaseURL != "" {
		return openPostgres(ctx, cfg.DatabaseURL)
	}
	return openSQLite(ctx, cfg.DBPath)
}

func (s *store) Close() error {
	err := s.db.Close()
	if s.closePool != nil {
		s.closePool()
	}
	return err
}

// q rebinds a query for the engine.
func (s *store) q(query string) string { return s.d.rebind(query) }

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

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// get returns the record, or errNotFound.
func (s *store) get(ctx context.Context, id string) (*record, error) {
	r, err := scanRecord(s.db.QueryRowContext(ctx, s.q(`SELECT `+columns+` FROM uploads WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return r, err
}

// byRequest returns the creator's upload made with requestID, or nil.
func (s *store) byRequest(ctx context.Context, q queryer, creator, requestID string) (*record, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, s.q(`SELECT `+columns+` FROM uploads WHERE creator = ? AND request_id = ?`), creator, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// usage is what a creator's uploads hold against the limits.
type usage struct {
	// Reserved is the sum of the sizes of the uploads that count against
	// the quota (every state but FAILED, CANCELED and EXPIRED).
	Reserved uint64
	// Active is how many are unfinished.
	Active int
}

func (s *store) usage(ctx context.Context, q queryer, creator string) (usage, error) {
	var bytes, active int64
	err := q.QueryRowContext(ctx, s.q(`SELECT
		CAST(COALESCE(SUM(CASE WHEN state IN (?, ?, ?, ?) THEN size ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN state IN (?, ?, ?) THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM uploads WHERE creator = ?`),
		int32(stateCreated), int32(stateUploading), int32(stateValidating), int32(stateCompleted),
		int32(stateCreated), int32(stateUploading), int32(stateValidating), creator).Scan(&bytes, &active)
	return usage{Reserved: uint64(bytes), Active: int(active)}, err
}

// reserve decides and records a creator's new upload as one step for every
// instance: under a lock on the creator's uploads, decide is given the
// upload already made with requestID (nil if none) and the creator's
// usage, and returns the upload to keep. A record other than prev is
// inserted. Concurrent reserves of one creator therefore never exceed a
// limit together, and one request_id makes one upload.
func (s *store) reserve(ctx context.Context, creator, requestID string, decide func(prev *record, u usage) (*record, error)) (*record, error) {
	var out *record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.d.lock(ctx, tx, "create:"+creator); err != nil {
			return err
		}
		prev, err := s.byRequest(ctx, tx, creator, requestID)
		if err != nil {
			return err
		}
		var u usage
		if prev == nil {
			if u, err = s.usage(ctx, tx, creator); err != nil {
				return err
			}
		}
		rec, err := decide(prev, u)
		if err != nil {
			return err
		}
		if rec != prev {
			if err := s.insert(ctx, tx, rec); err != nil {
				return err
			}
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *store) insert(ctx context.Context, tx *sql.Tx, r *record) error {
	tags, err := json.Marshal(r.Tags)
	if err != nil {
		return err
	}
	policy, err := marshalOrNil(r.Policy)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO uploads (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.VideoID, r.Creator, r.RequestID, r.RequestHash, r.Title, r.Description, string(tags), policy, int64(r.Size),
		r.ContentType, r.Filename, int32(r.State), int64(r.Offset), r.SHA256, nil, r.FailureReason,
		r.CreateTime.UnixNano(), r.UpdateTime.UnixNano(), r.ExpireTime.UnixNano())
	return err
}

// setVideoID records the upload's video unless one is recorded already,
// and returns the one recorded (an instance provisioning the same upload
// at the same time may have been first).
func (s *store) setVideoID(ctx context.Context, id, videoID string, now time.Time) (string, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE uploads SET video_id = ?, update_time = ? WHERE id = ? AND video_id = ''`),
		videoID, now.UnixNano(), id); err != nil {
		return "", err
	}
	var stored string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT video_id FROM uploads WHERE id = ?`), id).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound
	}
	return stored, err
}

// progress records bytes received: offset, CREATED -> UPLOADING, and the
// new expiry. It changes nothing once the upload stopped accepting bytes.
func (s *store) progress(ctx context.Context, id string, offset uint64, now, expire time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE uploads SET offset_bytes = ?, state = ?, update_time = ?, expire_time = ?
		WHERE id = ? AND state IN (?, ?) AND (offset_bytes != ? OR state = ?)`),
		int64(offset), int32(stateUploading), now.UnixNano(), expire.UnixNano(), id, int32(stateCreated), int32(stateUploading), int64(offset), int32(stateCreated))
	return err
}

// transition moves the upload from one of the states in from to `to`,
// applying set (extra "col = ?" assignments with args). It reports whether
// the upload was in one of those states: of several instances making the
// same transition at once, exactly one gets true.
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
	res, err := s.db.ExecContext(ctx, s.q(q), all...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *store) setHash(ctx context.Context, id, sum string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE uploads SET sha256 = ?, update_time = ? WHERE id = ? AND state = ?`), sum, now.UnixNano(), id, int32(stateValidating))
	return err
}

func (s *store) setMediaInfo(ctx context.Context, id string, mi *metadatav1.MediaInfo, now time.Time) error {
	b, err := marshalOrNil(mi)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`UPDATE uploads SET media_info = ?, update_time = ? WHERE id = ? AND state = ?`), b, now.UnixNano(), id, int32(stateValidating))
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
	return s.ids(ctx, q+` ORDER BY create_time, id`, args...)
}

// idsOfVideo returns the ids of the uploads carrying videoID.
func (s *store) idsOfVideo(ctx context.Context, videoID string) ([]string, error) {
	return s.ids(ctx, `SELECT id FROM uploads WHERE video_id = ? ORDER BY create_time, id`, videoID)
}

func (s *store) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
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
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
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
