// Package pgstore is the metadata store on PostgreSQL (pgx): a tsvector
// column with a GIN index for search, migrations embedded and applied at
// Open under an advisory lock, so several instances may start at once.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamgate/streamgate/services/metadata/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key held while migrating.
const migrationLock = 0x5354474d44 // "STGMD"

// MaxConns is the most connections one Store opens.
const MaxConns = 10

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	now    func() time.Time
}

// Open connects to the database at url (postgres://...) and applies pending
// migrations in one transaction.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	cfg.MaxConns = MaxConns
	// pgx prepares statements; after five runs PostgreSQL may switch to a
	// generic plan, which cannot see how selective a search query or a tag
	// is and then scans the status index instead of the GIN indexes. Our
	// queries plan in well under a millisecond, so always plan for the
	// actual values.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{pool: pool, logger: logger, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) withConn(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: connect: %w", err)
	}
	defer c.Release()
	return fn(c.Conn())
}

func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.withConn(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, fn)
	})
}

func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		for _, f := range files {
			version, err := migrationVersion(f)
			if err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			body, err := migrations.ReadFile(f)
			if err != nil {
				return err
			}
			// No arguments: the simple protocol, which runs several
			// statements in one call.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", f, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, s.now()); err != nil {
				return err
			}
			s.logger.InfoContext(ctx, "applied migration", "engine", "postgres", "file", f)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}

func migrationVersion(file string) (int, error) {
	base := strings.TrimPrefix(file, "migrations/")
	num, _, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("migration %s: name must start with a positive number and '_'", file)
	}
	return v, nil
}

const videoColumns = `id, creator, coalesce(request_id, ''), title, description, tags, status, status_reason, duration_us,
	renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info,
	create_time, update_time, version`

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func scanVideo(row pgx.Row) (*store.Video, error) {
	var (
		v      store.Video
		enc    store.Encoded
		durUS  int64
		status int16
	)
	if err := row.Scan(&v.ID, &v.Creator, &v.RequestID, &v.Title, &v.Description, &enc.Tags, &status, &v.StatusReason, &durUS,
		&enc.Renditions, &v.PosterPath, &v.Storyboard, &v.HLSPath, &v.DASHPath, &enc.Policy, &v.Gated, &v.UploadID, &enc.MediaInfo,
		&v.CreateTime, &v.UpdateTime, &v.Version); err != nil {
		return nil, err
	}
	if err := enc.Decode(&v); err != nil {
		return nil, fmt.Errorf("pgstore: video %s: %w", v.ID, err)
	}
	v.Status = store.Status(status)
	v.Duration = time.Duration(durUS) * time.Microsecond
	v.CreateTime = v.CreateTime.UTC()
	v.UpdateTime = v.UpdateTime.UTC()
	return &v, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func getVideo(ctx context.Context, q querier, id string) (*store.Video, error) {
	v, err := scanVideo(q.QueryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: get video: %w", err)
	}
	return v, nil
}

// GetVideo implements metadata.Store.
func (s *Store) GetVideo(ctx context.Context, id string) (*store.Video, error) {
	var v *store.Video
	err := s.withConn(ctx, func(c *pgx.Conn) error {
		var err error
		v, err = getVideo(ctx, c, id)
		return err
	})
	return v, err
}

// insertVideo inserts v; with onConflictNothing a row already holding the
// id or (creator, request_id) makes it a no-op reported as inserted false.
func insertVideo(ctx context.Context, q querier, v *store.Video, onConflictNothing bool) (bool, error) {
	enc, err := store.Encode(v)
	if err != nil {
		return false, err
	}
	version := v.Version
	if version == 0 {
		version = 1
	}
	sql := `INSERT INTO videos (id, creator, request_id, title, description, tags, status, status_reason, duration_us,
		renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info, create_time, update_time, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`
	if onConflictNothing {
		sql += ` ON CONFLICT DO NOTHING`
	}
	tag, err := q.Exec(ctx, sql,
		v.ID, v.Creator, nullable(v.RequestID), v.Title, v.Description, enc.Tags, int16(v.Status), v.StatusReason, v.Duration.Microseconds(),
		enc.Renditions, v.PosterPath, v.Storyboard, v.HLSPath, v.DASHPath, enc.Policy, v.Gated, v.UploadID, enc.MediaInfo,
		v.CreateTime, v.UpdateTime, version)
	if err != nil {
		if pe := new(pgconn.PgError); errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "videos_pkey" {
			return false, fmt.Errorf("%w: %s", store.ErrExists, v.ID)
		}
		return false, fmt.Errorf("pgstore: insert video: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateVideo implements metadata.Store.
func (s *Store) CreateVideo(ctx context.Context, v *store.Video) (*store.Video, bool, error) {
	var (
		got     *store.Video
		created bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if v.RequestID != "" {
			// ON CONFLICT covers (creator, request_id): a concurrent retry
			// of the same request waits for this one, then finds its row.
			ok, err := insertVideo(ctx, tx, v, true)
			if err != nil {
				return err
			}
			if !ok {
				existing, err := scanVideo(tx.QueryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE creator = $1 AND request_id = $2`, v.Creator, v.RequestID))
				if errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("%w: %s", store.ErrExists, v.ID)
				}
				got = existing
				return err
			}
		} else if _, err := insertVideo(ctx, tx, v, false); err != nil {
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

// InsertBatch inserts videos in one transaction, for benchmarks and bulk
// imports. Versions of 0 become 1.
func (s *Store) InsertBatch(ctx context.Context, vs []*store.Video) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, v := range vs {
			enc, err := store.Encode(v)
			if err != nil {
				return err
			}
			version := max(v.Version, 1)
			b.Queue(`INSERT INTO videos (id, creator, request_id, title, description, tags, status, status_reason, duration_us,
				renditions, poster_path, storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info, create_time, update_time, version)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
				v.ID, v.Creator, nullable(v.RequestID), v.Title, v.Description, enc.Tags, int16(v.Status), v.StatusReason, v.Duration.Microseconds(),
				enc.Renditions, v.PosterPath, v.Storyboard, v.HLSPath, v.DASHPath, enc.Policy, v.Gated, v.UploadID, enc.MediaInfo,
				v.CreateTime, v.UpdateTime, version)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// UpdateVideo implements metadata.Store.
func (s *Store) UpdateVideo(ctx context.Context, id string, version int64, e store.Edit) (*store.Video, error) {
	var got *store.Video
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := store.MarshalPolicy(e.Policy)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE videos SET title = $1, description = $2, tags = $3, policy = $4, gated = $5,
			version = version + 1, update_time = $6 WHERE id = $7 AND version = $8`,
			e.Title, e.Description, store.JoinTags(e.Tags), pol, e.Gated, s.now(), id, version)
		if err != nil {
			return fmt.Errorf("pgstore: update video: %w", err)
		}
		if tag.RowsAffected() == 0 {
			if _, err := getVideo(ctx, tx, id); err != nil {
				return err
			}
			return fmt.Errorf("%w: %s is no longer at version %d", store.ErrConflict, id, version)
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := scanVideo(tx.QueryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("pgstore: delete video: %w", err)
		}
		if cur.Status == store.StatusDeleted {
			got = cur
			return nil
		}
		if version != 0 && cur.Version != version {
			return fmt.Errorf("%w: %s is no longer at version %d", store.ErrConflict, id, version)
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE videos SET status = $1, status_reason = $2, version = version + 1, update_time = $3 WHERE id = $4`,
			int16(store.StatusDeleted), reason, now, id); err != nil {
			return fmt.Errorf("pgstore: delete video: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO media_deletions (video_id, requested_at) VALUES ($1, $2) ON CONFLICT (video_id) DO NOTHING`, id, now); err != nil {
			return fmt.Errorf("pgstore: queue media deletion: %w", err)
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		mi, err := store.MarshalMediaInfo(p.MediaInfo)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE videos SET status = $1, status_reason = '', upload_id = $2, duration_us = $3, media_info = $4,
			version = version + 1, update_time = $5 WHERE id = $6 AND status = $7`,
			int16(store.StatusProcessing), p.UploadID, p.Duration.Microseconds(), mi, s.now(), p.VideoID, int16(store.StatusUploading))
		if err != nil {
			return fmt.Errorf("pgstore: mark processing: %w", err)
		}
		changed = tag.RowsAffected() == 1
		got, err = getVideo(ctx, tx, p.VideoID)
		if errors.Is(err, store.ErrNotFound) && create != nil {
			inserted, err := insertVideo(ctx, tx, create, true)
			if err != nil {
				return err
			}
			changed = inserted
			got, err = getVideo(ctx, tx, p.VideoID)
			return err
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
	return s.transition(ctx, r.VideoID, `status = $4, status_reason = '', renditions = $5, duration_us = $6, poster_path = $7,
		storyboard_path = $8, hls_path = $9, dash_path = $10`,
		int16(store.StatusReady), rend, r.Duration.Microseconds(), r.PosterPath, r.Storyboard, r.HLSPath, r.DASHPath)
}

// MarkFailed implements metadata.Store.
func (s *Store) MarkFailed(ctx context.Context, id, reason string) (*store.Video, bool, error) {
	return s.transition(ctx, id, `status = $4, status_reason = $5`, int16(store.StatusFailed), reason)
}

// transition applies set (whose placeholders start at $4) to a video that
// is UPLOADING or PROCESSING; the guard in the WHERE clause is what makes
// redelivered events no-ops.
func (s *Store) transition(ctx context.Context, id, set string, args ...any) (*store.Video, bool, error) {
	var (
		got     *store.Video
		changed bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		all := append([]any{id, s.now(), []int16{int16(store.StatusUploading), int16(store.StatusProcessing)}}, args...)
		tag, err := tx.Exec(ctx, `UPDATE videos SET `+set+`, version = version + 1, update_time = $2 WHERE id = $1 AND status = ANY($3)`, all...)
		if err != nil {
			return fmt.Errorf("pgstore: transition: %w", err)
		}
		changed = tag.RowsAffected() == 1
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Creator != "" {
		where = append(where, "creator = "+arg(q.Creator))
	}
	if len(q.Statuses) > 0 {
		sts := make([]int16, len(q.Statuses))
		for i, st := range q.Statuses {
			sts[i] = int16(st)
		}
		if len(sts) == 1 {
			where = append(where, "status = "+arg(sts[0]))
		} else {
			where = append(where, "status = ANY("+arg(sts)+")")
		}
	}
	if q.Tag != "" {
		where = append(where, "tag_list @> ARRAY["+arg(q.Tag)+"::text]")
	}
	if q.Gated != nil {
		where = append(where, "gated = "+arg(*q.Gated))
	}
	if q.After != nil {
		where = append(where, "(create_time, id) < ("+arg(q.After.CreateTime)+", "+arg(q.After.ID)+")")
	}
	query := `SELECT ` + videoColumns + ` FROM videos`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY create_time DESC, id DESC LIMIT " + arg(q.Limit)
	return s.query(ctx, query, args...)
}

// SearchVideos implements metadata.Store. Ranking is ts_rank over the
// weighted tsvector (title A, tags B, description C).
func (s *Store) SearchVideos(ctx context.Context, q store.SearchQuery) ([]*store.Video, error) {
	if len(q.Words) == 0 {
		return nil, nil
	}
	return s.query(ctx, `SELECT `+videoColumns+` FROM videos, to_tsquery('simple', $1) AS q
		WHERE search @@ q AND status = $2
		ORDER BY ts_rank(search, q) DESC, create_time DESC, id DESC LIMIT $3 OFFSET $4`,
		TSQuery(q.Words), int16(store.StatusReady), q.Limit, q.Offset)
}

// TSQuery builds a to_tsquery expression from words: each a quoted lexeme
// (quotes and backslashes escaped, so no tsquery operator in user input is
// ever interpreted), all required, the last one a prefix.
func TSQuery(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteString(" & ")
		}
		b.WriteByte('\'')
		w = strings.ReplaceAll(w, `\`, `\\`)
		b.WriteString(strings.ReplaceAll(w, `'`, `''`))
		b.WriteByte('\'')
		if i == len(words)-1 {
			b.WriteString(":*")
		}
	}
	return b.String()
}

func (s *Store) query(ctx context.Context, query string, args ...any) ([]*store.Video, error) {
	var out []*store.Video
	err := s.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("pgstore: query: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scanVideo(rows)
			if err != nil {
				return fmt.Errorf("pgstore: scan: %w", err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pgstore: query: %w", err)
		}
		return nil
	})
	return out, err
}

// PendingMediaDeletions implements metadata.Store.
func (s *Store) PendingMediaDeletions(ctx context.Context, limit int) ([]store.MediaDeletion, error) {
	var out []store.MediaDeletion
	err := s.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT video_id, requested_at FROM media_deletions WHERE done_at IS NULL ORDER BY requested_at, video_id LIMIT $1`, limit)
		if err != nil {
			return fmt.Errorf("pgstore: media deletions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d store.MediaDeletion
			if err := rows.Scan(&d.VideoID, &d.RequestTime); err != nil {
				return err
			}
			d.RequestTime = d.RequestTime.UTC()
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// Analyze does what autovacuum does after a bulk load: refresh the
// planner's statistics and merge the GIN indexes' pending lists.
func (s *Store) Analyze(ctx context.Context) error {
	return s.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `VACUUM ANALYZE videos`)
		return err
	})
}
