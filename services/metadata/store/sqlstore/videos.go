package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/services/metadata/store"
)

const videoColumns = `id, creator, coalesce(request_id, ''), title, description, tags, status, status_reason, duration_us,
	renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info,
	create_us, update_us, version, allowed_origins, packaging, encrypted`

const insertVideos = `INSERT INTO videos (id, creator, request_id, title, description, tags, status, status_reason, duration_us,
	renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info,
	create_us, update_us, version, allowed_origins, packaging, encrypted) VALUES `

const videoRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// bump ends every write to a video: one more version, written now (the
// ? is the time).
const bump = `version = version + 1, update_us = ?`

type scanner interface{ Scan(dest ...any) error }

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanVideo(row scanner) (*store.Video, error) {
	var (
		v               store.Video
		enc             store.Encoded
		durUS, cUS, uUS int64
		status          int
		packaging       int32
	)
	if err := row.Scan(&v.ID, &v.Creator, &v.RequestID, &v.Title, &v.Description, &enc.Tags, &status, &v.StatusReason, &durUS,
		&enc.Renditions, &v.PosterPath, &v.Storyboard, &v.HLSPath, &v.DASHPath, &enc.Policy, &v.Gated, &v.UploadID, &enc.MediaInfo,
		&cUS, &uUS, &v.Version, &enc.AllowedOrigins, &packaging, &v.Encrypted); err != nil {
		return nil, err
	}
	if err := enc.Decode(&v); err != nil {
		return nil, fmt.Errorf("sqlstore: video %s: %w", v.ID, err)
	}
	v.Status = store.Status(status)
	v.Packaging = metadatav1.Packaging(packaging)
	v.Duration = time.Duration(durUS) * time.Microsecond
	v.CreateTime, v.UpdateTime = fromUS(cUS), fromUS(uUS)
	return &v, nil
}

func (s *Store) getVideo(ctx context.Context, q querier, id string) (*store.Video, error) {
	v, err := scanVideo(q.QueryRowContext(ctx, s.q(`SELECT `+videoColumns+` FROM videos WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get video: %w", err)
	}
	return v, nil
}

// GetVideo implements metadata.Store.
func (s *Store) GetVideo(ctx context.Context, id string) (*store.Video, error) {
	return s.getVideo(ctx, s.db, id)
}

// videoArgs appends v's columns, in insertVideos order, to args.
func videoArgs(args []any, v *store.Video) ([]any, error) {
	enc, err := store.Encode(v)
	if err != nil {
		return nil, err
	}
	var requestID any // NULL: (creator, request_id) is unique only when set
	if v.RequestID != "" {
		requestID = v.RequestID
	}
	return append(args, v.ID, v.Creator, requestID, v.Title, v.Description, enc.Tags, int(v.Status), v.StatusReason, v.Duration.Microseconds(),
		enc.Renditions, v.PosterPath, v.Storyboard, v.HLSPath, v.DASHPath, enc.Policy, v.Gated, v.UploadID, enc.MediaInfo,
		us(v.CreateTime), us(v.UpdateTime), max(v.Version, 1), enc.AllowedOrigins, int(v.Packaging), v.Encrypted), nil
}

// insertIfAbsent inserts v unless its id or its (creator, request_id) is
// taken, and reports whether it did. On PostgreSQL an insert racing an
// uncommitted one of the same key waits for it, then inserts nothing.
func (s *Store) insertIfAbsent(ctx context.Context, tx *sql.Tx, v *store.Video) (bool, error) {
	args, err := videoArgs(nil, v)
	if err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, s.q(insertVideos+videoRow+` ON CONFLICT DO NOTHING`), args...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: insert video: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, s.d.setTags(ctx, tx, v.ID, v.Tags)
}

// batchRows is how many videos InsertBatch writes per statement: 21
// arguments each, under SQLite's 32,766 and PostgreSQL's 65,535.
const batchRows = 500

// InsertBatch inserts videos in one transaction, for benchmarks and bulk
// imports; a video whose id is taken fails the batch. Versions of 0
// become 1.
func (s *Store) InsertBatch(ctx context.Context, vs []*store.Video) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(vs); start += batchRows {
			chunk := vs[start:min(start+batchRows, len(vs))]
			var (
				b    strings.Builder
				args []any
				err  error
			)
			b.WriteString(insertVideos)
			for i, v := range chunk {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(videoRow)
				if args, err = videoArgs(args, v); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
				return fmt.Errorf("sqlstore: insert videos: %w", err)
			}
			for _, v := range chunk {
				if err := s.d.setTags(ctx, tx, v.ID, v.Tags); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// CreateVideo implements metadata.Store.
func (s *Store) CreateVideo(ctx context.Context, v *store.Video) (*store.Video, bool, error) {
	var (
		got     *store.Video
		created bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if created, err = s.insertIfAbsent(ctx, tx, v); err != nil {
			return err
		}
		if created {
			got, err = s.getVideo(ctx, tx, v.ID)
			return err
		}
		// A retry of a request already served gets its video; a taken id
		// is a conflict.
		if v.RequestID != "" {
			got, err = scanVideo(tx.QueryRowContext(ctx, s.q(`SELECT `+videoColumns+` FROM videos WHERE creator = ? AND request_id = ?`), v.Creator, v.RequestID))
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: get video by request: %w", err)
			}
		}
		return fmt.Errorf("%w: %s", store.ErrExists, v.ID)
	})
	if err != nil {
		return nil, false, err
	}
	return got, created, nil
}

// UpdateVideo implements metadata.Store.
func (s *Store) UpdateVideo(ctx context.Context, id string, version int64, e store.Edit) (*store.Video, error) {
	pol, err := store.MarshalPolicy(e.Policy)
	if err != nil {
		return nil, err
	}
	var got *store.Video
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		v, changed, err := s.guarded(ctx, tx, id, func(v *store.Video) bool { return v.Version == version },
			`UPDATE videos SET title = ?, description = ?, tags = ?, policy = ?, gated = ?, allowed_origins = ?, packaging = ?, `+bump+` WHERE id = ? AND version = ?`,
			e.Title, e.Description, store.JoinTags(e.Tags), pol, e.Gated, store.JoinOrigins(e.AllowedOrigins), int(e.Packaging), us(s.now()), id, version)
		if err != nil {
			return err
		}
		if !changed {
			return fmt.Errorf("%w: %s is no longer at version %d", store.ErrConflict, id, version)
		}
		got = v
		return s.d.setTags(ctx, tx, id, e.Tags)
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// DeleteVideo implements metadata.Store.
func (s *Store) DeleteVideo(ctx context.Context, id string, version int64, reason string) (*store.Video, bool, error) {
	var (
		got     *store.Video
		changed bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := us(s.now())
		query := `UPDATE videos SET status = ?, status_reason = ?, ` + bump + ` WHERE id = ? AND status <> ?`
		args := []any{int(store.StatusDeleted), reason, now, id, int(store.StatusDeleted)}
		if version != 0 {
			query += ` AND version = ?`
			args = append(args, version)
		}
		var err error
		got, changed, err = s.guarded(ctx, tx, id, func(v *store.Video) bool {
			return v.Status != store.StatusDeleted && (version == 0 || v.Version == version)
		}, query, args...)
		switch {
		case err != nil:
			return err
		case changed:
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO media_deletions (video_id, requested_at) VALUES (?, ?) ON CONFLICT (video_id) DO NOTHING`), id, now); err != nil {
				return fmt.Errorf("sqlstore: queue media deletion: %w", err)
			}
		case got.Status != store.StatusDeleted:
			return fmt.Errorf("%w: %s is no longer at version %d", store.ErrConflict, id, version)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return got, changed, nil
}

// MarkProcessing implements metadata.Store.
func (s *Store) MarkProcessing(ctx context.Context, p store.Processing) (*store.Video, bool, error) {
	mi, err := store.MarshalMediaInfo(p.MediaInfo)
	if err != nil {
		return nil, false, err
	}
	var (
		got     *store.Video
		changed bool
	)
	err = s.inTx(ctx, func(tx *sql.Tx) (err error) {
		got, changed, err = s.guarded(ctx, tx, p.VideoID, func(v *store.Video) bool { return v.Status == store.StatusUploading },
			`UPDATE videos SET status = ?, status_reason = '', upload_id = ?, duration_us = ?, media_info = ?, `+bump+` WHERE id = ? AND status = ?`,
			int(store.StatusProcessing), p.UploadID, p.Duration.Microseconds(), mi, us(s.now()), p.VideoID, int(store.StatusUploading))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return got, changed, nil
}

// MarkReady implements metadata.Store.
func (s *Store) MarkReady(ctx context.Context, r store.Ready) (*store.Video, bool, error) {
	rend, err := store.MarshalRenditions(r.Renditions)
	if err != nil {
		return nil, false, err
	}
	return s.transition(ctx, r.VideoID, `status = ?, status_reason = '', renditions = ?, duration_us = ?, poster_path = ?,
		storyboard_path = ?, hls_path = ?, dash_path = ?, encrypted = ?`,
		int(store.StatusReady), rend, r.Duration.Microseconds(), r.PosterPath, r.Storyboard, r.HLSPath, r.DASHPath, r.Encrypted)
}

// MarkFailed implements metadata.Store.
func (s *Store) MarkFailed(ctx context.Context, id, reason string) (*store.Video, bool, error) {
	return s.transition(ctx, id, `status = ?, status_reason = ?`, int(store.StatusFailed), reason)
}

// transition applies set (with its arguments) to a video that is
// UPLOADING or PROCESSING: the guard that makes redelivered and late
// events no-ops.
func (s *Store) transition(ctx context.Context, id, set string, setArgs ...any) (*store.Video, bool, error) {
	var (
		got     *store.Video
		changed bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		args := append(setArgs[:len(setArgs):len(setArgs)], us(s.now()), id, int(store.StatusUploading), int(store.StatusProcessing))
		var err error
		got, changed, err = s.guarded(ctx, tx, id, func(v *store.Video) bool {
			return v.Status == store.StatusUploading || v.Status == store.StatusProcessing
		}, `UPDATE videos SET `+set+`, `+bump+` WHERE id = ? AND status IN (?, ?)`, args...)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return got, changed, nil
}

// guarded runs query, an UPDATE of video id whose WHERE clause holds
// exactly when may accepts the video, and returns the video as it then is
// and whether the update changed it: the rows affected decide. On
// PostgreSQL each statement sees the latest commits, so a video another
// transaction committed between the update and the read can be read in a
// state the guard accepts; the update is then run again, and sees it.
func (s *Store) guarded(ctx context.Context, tx *sql.Tx, id string, may func(*store.Video) bool, query string, args ...any) (*store.Video, bool, error) {
	for range 3 {
		res, err := tx.ExecContext(ctx, s.q(query), args...)
		if err != nil {
			return nil, false, fmt.Errorf("sqlstore: update video %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, false, fmt.Errorf("sqlstore: update video %s: %w", id, err)
		}
		v, err := s.getVideo(ctx, tx, id)
		if err != nil {
			return nil, false, err
		}
		if n == 1 || !may(v) {
			return v, n == 1, nil
		}
	}
	return nil, false, fmt.Errorf("sqlstore: update video %s: it changed under three updates in a row", id)
}

// ListVideos implements metadata.Store.
func (s *Store) ListVideos(ctx context.Context, q store.ListQuery) ([]*store.Video, error) {
	var (
		where []string
		args  []any
	)
	if q.Creator != "" {
		where = append(where, "creator = ?")
		args = append(args, q.Creator)
	}
	if len(q.Statuses) > 0 {
		for _, st := range q.Statuses {
			args = append(args, int(st))
		}
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(q.Statuses)-1)+")")
	}
	if q.Tag != "" {
		where = append(where, s.d.hasTag())
		args = append(args, q.Tag)
	}
	if q.Gated != nil {
		where = append(where, "gated = ?")
		args = append(args, *q.Gated)
	}
	if q.After != nil {
		where = append(where, "(create_us, id) < (?, ?)")
		args = append(args, us(q.After.CreateTime), q.After.ID)
	}
	query := `SELECT ` + videoColumns + ` FROM videos`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY create_us DESC, id DESC LIMIT ?"
	return s.query(ctx, query, append(args, q.Limit)...)
}

// SearchVideos implements metadata.Store. Ranking is the engine's:
// SQLite's bm25 with the title weighted 10, tags 5 and the description 1,
// or PostgreSQL's ts_rank over a tsvector weighted A, B and C alike.
func (s *Store) SearchVideos(ctx context.Context, q store.SearchQuery) ([]*store.Video, error) {
	if len(q.Words) == 0 {
		return nil, nil
	}
	return s.query(ctx, s.d.search(videoColumns), s.d.match(q.Words), int(store.StatusReady), q.Limit, q.Offset)
}

func (s *Store) query(ctx context.Context, query string, args ...any) ([]*store.Video, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: query: %w", err)
	}
	defer rows.Close()
	var out []*store.Video
	for rows.Next() {
		v, err := scanVideo(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: query: %w", err)
	}
	return out, nil
}
