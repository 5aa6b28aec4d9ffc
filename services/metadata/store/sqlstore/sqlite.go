package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// OpenSQLite opens (creating if needed) the SQLite database file at path,
// the store of a single instance, and applies pending migrations.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlstore: empty SQLite path")
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Writers take the lock at BEGIN, so write transactions run one at a
	// time, queued on busy_timeout, instead of one failing to upgrade a
	// read lock; readers still run beside them (WAL).
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	return open(ctx, db, sqliteDialect{}, nil, logger)
}

// sqliteDialect: ? placeholders as written, FTS5 for search, and a
// video_tags table for the tag filter.
type sqliteDialect struct{}

func (sqliteDialect) name() string               { return "sqlite" }
func (sqliteDialect) rebind(query string) string { return query }

// lockSchema has nothing to do: the migration's transaction took the
// database's write lock at BEGIN.
func (sqliteDialect) lockSchema(context.Context, *sql.Tx) error { return nil }

func (sqliteDialect) migrationsTable() (create, record string) {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)`
}

func (sqliteDialect) setTags(ctx context.Context, tx *sql.Tx, id string, tags []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM video_tags WHERE video_id = ?`, id); err != nil {
		return fmt.Errorf("sqlstore: tags: %w", err)
	}
	for _, tag := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO video_tags (video_id, tag) VALUES (?, ?)`, id, tag); err != nil {
			return fmt.Errorf("sqlstore: tags: %w", err)
		}
	}
	return nil
}

func (sqliteDialect) hasTag() string { return `id IN (SELECT video_id FROM video_tags WHERE tag = ?)` }

// search ranks with bm25, which is only defined inside the full-text
// query, hence the subquery; videos_fts indexes videos by seq.
func (sqliteDialect) search(columns string) string {
	return `SELECT ` + columns + ` FROM (
			SELECT rowid AS fts_rowid, bm25(videos_fts, 10.0, 5.0, 1.0) AS fts_rank FROM videos_fts WHERE videos_fts MATCH ?
		) JOIN videos ON seq = fts_rowid
		WHERE status = ?
		ORDER BY fts_rank, create_us DESC, id DESC LIMIT ? OFFSET ?`
}

// match builds an FTS5 query: each word a quoted string (quotes doubled,
// so no FTS5 operator in user input is ever interpreted), all required,
// the last one a prefix.
func (sqliteDialect) match(words []string) string {
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

func (sqliteDialect) analyze() string { return "" }
