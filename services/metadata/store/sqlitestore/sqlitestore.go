// Package sqlitestore is the metadata store on SQLite (modernc.org/sqlite,
// pure Go): WAL journal, FTS5 for search, migrations embedded and applied
// at Open.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/streamgate/streamgate/services/metadata/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	logger *slog.Logger
	now    func() time.Time
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations in one transaction.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: empty path")
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Writers take the lock at BEGIN, so two writers queue on busy_timeout
	// instead of one failing to upgrade a read lock.
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &Store{db: db, logger: logger, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, all in one transaction.
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	for _, f := range files {
		version, err := migrationVersion(f)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("sqlitestore: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("sqlitestore: migration %s: %w", f, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)`, version, s.now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlitestore: migrate: %w", err)
		}
		s.logger.InfoContext(ctx, "applied migration", "engine", "sqlite", "file", f)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	return nil
}

// migrationVersion reads the leading number of "migrations/0001_name.sql".
func migrationVersion(file string) (int, error) {
	base := strings.TrimPrefix(file, "migrations/")
	num, _, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("sqlitestore: migration %s: name must start with a positive number and '_'", file)
	}
	return v, nil
}

const videoColumns = `id, creator, coalesce(request_id, ''), title, description, tags, status, status_reason, duration_us,
	renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info,
	create_us, update_us, version`

type scanner interface{ Scan(dest ...any) error }

func scanVideo(row scanner, extra ...any) (*store.Video, error) {
	var (
		v               store.Video
		enc             store.Encoded
		durUS, cUS, uUS int64
		status          int
		gated           bool
	)
	dest := []any{&v.ID, &v.Creator, &v.RequestID, &v.Title, &v.Description, &enc.Tags, &status, &v.StatusReason, &durUS,
		&enc.Renditions, &v.PosterPath, &v.Storyboard, &v.HLSPath, &v.DASHPath, &enc.Policy, &gated, &v.UploadID, &enc.MediaInfo,
		&cUS, &uUS, &v.Version}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	if err := enc.Decode(&v); err != nil {
		return nil, fmt.Errorf("sqlitestore: video %s: %w", v.ID, err)
	}
	v.Status = store.Status(status)
	v.Gated = gated
	v.Duration = time.Duration(durUS) * time.Microsecond
	v.CreateTime = time.UnixMicro(cUS).UTC()
	v.UpdateTime = time.UnixMicro(uUS).UTC()
	return &v, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateVideo implements metadata.Store.
func (s *Store) CreateVideo(ctx context.Context, v *store.Video) (*store.Video, bool, error) {
	var (
		got     *store.Video
		created bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if v.RequestID != "" {
			existing, err := scanVideo(tx.QueryRowContext(ctx, `SELECT `+videoColumns+` FROM videos WHERE creator = ? AND request_id = ?`, v.Creator, v.RequestID))
			switch {
			case err == nil:
				got = existing
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		if err := insertVideo(ctx, tx, v); err != nil {
			return err
		}
		created = true
		var err error
		got, err = getVideo(ctx, tx, v.ID)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return got, created, nil
}

func insertVideo(ctx context.Context, tx *sql.Tx, v *store.Video) error {
	enc, err := store.Encode(v)
	if err != nil {
		return err
	}
	version := v.Version
	if version == 0 {
		version = 1
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO videos (id, creator, request_id, title, description, tags, status, status_reason, duration_us,
		renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info, create_us, update_us, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.Creator, nullable(v.RequestID), v.Title, v.Description, enc.Tags, int(v.Status), v.StatusReason, v.Duration.Microseconds(),
		enc.Renditions, v.PosterPath, v.Storyboard, v.HLSPath, v.DASHPath, enc.Policy, v.Gated, v.UploadID, enc.MediaInfo,
		v.CreateTime.UnixMicro(), v.UpdateTime.UnixMicro(), version)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed: videos.id") {
			return fmt.Errorf("%w: %s", store.ErrExists, v.ID)
		}
		return fmt.Errorf("sqlitestore: insert video: %w", err)
	}
	for _, tag := range v.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO video_tags (video_id, tag) VALUES (?, ?)`, v.ID, tag); err != nil {
			return fmt.Errorf("sqlitestore: insert tag: %w", err)
		}
	}
	return nil
}

// InsertBatch inserts videos in one transaction, for benchmarks and bulk
// imports. Versions of 0 become 1.
func (s *Store) InsertBatch(ctx context.Context, vs []*store.Video) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, v := range vs {
			if err := insertVideo(ctx, tx, v); err != nil {
				return err
			}
		}
		return nil
	})
}

func getVideo(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (*store.Video, error) {
	v, err := scanVideo(q.QueryRowContext(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get video: %w", err)
	}
	return v, nil
}

// GetVideo implements metadata.Store.
func (s *Store) GetVideo(ctx context.Context, id string) (*store.Video, error) {
	return getVideo(ctx, s.db, id)
}

// UpdateVideo implements metadata.Store.
func (s *Store) UpdateVideo(ctx context.Context, id string, version int64, e store.Edit) (*store.Video, error) {
	var got *store.Video
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		pol, err := store.MarshalPolicy(e.Policy)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE videos SET title = ?, description = ?, tags = ?, policy = ?, gated = ?,
			version = version + 1, update_us = ? WHERE id = ? AND version = ?`,
			e.Title, e.Description, store.JoinTags(e.Tags), pol, e.Gated, s.now().UnixMicro(), id, version)
		if err != nil {
			return fmt.Errorf("sqlitestore: update video: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := getVideo(ctx, tx, id); err != nil {
				return err
			}
			return fmt.Errorf("%w: %s is no longer at version %d", store.ErrConflict, id, version)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM video_tags WHERE video_id = ?`, id); err != nil {
			return fmt.Errorf("sqlitestore: update tags: %w", err)
		}
		for _, tag := range e.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO video_tags (video_id, tag) VALUES (?, ?)`, id, tag); err != nil {
				return fmt.Errorf("sqlitestore: update tags: %w", err)
			}
		}
		got, err = getVideo(ctx, tx, id)
		return err
	})
	return got, err
}

// DeleteVideo implements metadata.Store.
func (s *Store) DeleteVideo(ctx context.Context, id string, version int64, reason string) (*store.Video, bool, error) {
	var (
		got     *store.Video
		changed bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := getVideo(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status == store.StatusDeleted {
			got = cur
			return nil
		}
		if version != 0 && cur.Version != version {
			return fmt.Errorf("%w: %s is no longer at version %d", store.ErrConflict, id, version)
		}
		now := s.now().UnixMicro()
		if _, err := tx.ExecContext(ctx, `UPDATE videos SET status = ?, status_reason = ?, version = version + 1, update_us = ? WHERE id = ?`,
			int(store.StatusDeleted), reason, now, id); err != nil {
			return fmt.Errorf("sqlitestore: delete video: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO media_deletions (video_id, requested_at) VALUES (?, ?) ON CONFLICT (video_id) DO NOTHING`, id, now); err != nil {
			return fmt.Errorf("sqlitestore: queue media deletion: %w", err)
		}
		changed = true
		got, err = getVideo(ctx, tx, id)
		return err
	})
	return got, changed, err
}

// MarkProcessing implements metadata.Store.
func (s *Store) MarkProcessing(ctx context.Context, p store.Processing, create *store.Video) (*store.Video, bool, error) {
	var (
		got     *store.Video
		changed bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		mi, err := store.MarshalMediaInfo(p.MediaInfo)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE videos SET status = ?, status_reason = '', upload_id = ?, duration_us = ?, media_info = ?,
			version = version + 1, update_us = ? WHERE id = ? AND status = ?`,
			int(store.StatusProcessing), p.UploadID, p.Duration.Microseconds(), mi, s.now().UnixMicro(), p.VideoID, int(store.StatusUploading))
		if err != nil {
			return fmt.Errorf("sqlitestore: mark processing: %w", err)
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		got, err = getVideo(ctx, tx, p.VideoID)
		if errors.Is(err, store.ErrNotFound) && create != nil {
			if err := insertVideo(ctx, tx, create); err != nil {
				return err
			}
			changed = true
			got, err = getVideo(ctx, tx, p.VideoID)
		}
		return err
	})
	return got, changed, err
}

// MarkReady implements metadata.Store.
func (s *Store) MarkReady(ctx context.Context, r store.Ready) (*store.Video, bool, error) {
	rend, err := store.MarshalRenditions(r.Renditions)
	if err != nil {
		return nil, false, err
	}
	return s.transition(ctx, r.VideoID, `status = ?, status_reason = '', renditions = ?, duration_us = ?, poster_path = ?,
		storyboard_path = ?, hls_path = ?, dash_path = ?`,
		int(store.StatusReady), rend, r.Duration.Microseconds(), r.PosterPath, r.Storyboard, r.HLSPath, r.DASHPath)
}

// MarkFailed implements metadata.Store.
func (s *Store) MarkFailed(ctx context.Context, id, reason string) (*store.Video, bool, error) {
	return s.transition(ctx, id, `status = ?, status_reason = ?`, int(store.StatusFailed), reason)
}

// transition applies set to a video that is UPLOADING or PROCESSING; the
// guard in the WHERE clause is what makes redelivered events no-ops.
func (s *Store) transition(ctx context.Context, id, set string, args ...any) (*store.Video, bool, error) {
	var (
		got     *store.Video
		changed bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		args = append(args, s.now().UnixMicro(), id, int(store.StatusUploading), int(store.StatusProcessing))
		res, err := tx.ExecContext(ctx, `UPDATE videos SET `+set+`, version = version + 1, update_us = ? WHERE id = ? AND status IN (?, ?)`, args...)
		if err != nil {
			return fmt.Errorf("sqlitestore: transition: %w", err)
		}
		n, _ := res.RowsAffected()
		changed = n == 1
		got, err = getVideo(ctx, tx, id)
		return err
	})
	return got, changed, err
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
		ph := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			ph[i] = "?"
			args = append(args, int(st))
		}
		where = append(where, "status IN ("+strings.Join(ph, ", ")+")")
	}
	if q.Tag != "" {
		where = append(where, "id IN (SELECT video_id FROM video_tags WHERE tag = ?)")
		args = append(args, q.Tag)
	}
	if q.Gated != nil {
		where = append(where, "gated = ?")
		args = append(args, *q.Gated)
	}
	if q.After != nil {
		where = append(where, "(create_us, id) < (?, ?)")
		args = append(args, q.After.CreateTime.UnixMicro(), q.After.ID)
	}
	query := `SELECT ` + videoColumns + ` FROM videos`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY create_us DESC, id DESC LIMIT ?"
	args = append(args, q.Limit)
	return s.query(ctx, query, args...)
}

// SearchVideos implements metadata.Store. Ranking is FTS5's bm25 with the
// title weighted 10, tags 5 and the description 1.
func (s *Store) SearchVideos(ctx context.Context, q store.SearchQuery) ([]*store.Video, error) {
	if len(q.Words) == 0 {
		return nil, nil
	}
	// bm25 is only defined inside the full-text query, hence the subquery.
	return s.query(ctx, `SELECT `+videoColumns+` FROM (
			SELECT rowid AS fts_rowid, bm25(videos_fts, 10.0, 5.0, 1.0) AS fts_rank FROM videos_fts WHERE videos_fts MATCH ?
		) JOIN videos ON seq = fts_rowid
		WHERE status = ?
		ORDER BY fts_rank, create_us DESC, id DESC LIMIT ? OFFSET ?`,
		MatchExpr(q.Words), int(store.StatusReady), q.Limit, q.Offset)
}

// MatchExpr builds an FTS5 query from words: each word a quoted string
// (quotes doubled, so no FTS5 operator in user input is ever interpreted),
// all required, the last one a prefix.
func MatchExpr(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(w, `"`, `""`))
		b.WriteByte('"')
		if i == len(words)-1 {
			b.WriteByte('*')
		}
	}
	return b.String()
}

func (s *Store) query(ctx context.Context, query string, args ...any) ([]*store.Video, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: query: %w", err)
	}
	defer rows.Close()
	var out []*store.Video
	for rows.Next() {
		v, err := scanVideo(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: query: %w", err)
	}
	return out, nil
}

// PendingMediaDeletions implements metadata.Store.
func (s *Store) PendingMediaDeletions(ctx context.Context, limit int) ([]store.MediaDeletion, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT video_id, requested_at FROM media_deletions WHERE done_at IS NULL ORDER BY requested_at, video_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: media deletions: %w", err)
	}
	defer rows.Close()
	var out []store.MediaDeletion
	for rows.Next() {
		var (
			d  store.MediaDeletion
			us int64
		)
		if err := rows.Scan(&d.VideoID, &us); err != nil {
			return nil, err
		}
		d.RequestTime = time.UnixMicro(us).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return nil
}
