package upload

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

const sqliteSchema = `
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
CREATE INDEX IF NOT EXISTS uploads_by_video ON uploads (video_id);
`

// openSQLite opens (or creates) the database file at path: the store of a
// single instance.
func openSQLite(ctx context.Context, path string) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("upload: open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single
	// connection makes every transaction serial (the limit check and the
	// insert of CreateUpload included), so no SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("upload: create schema: %w", err)
	}
	return &store{db: db, d: sqliteDialect{}}, nil
}

// sqliteDialect: ? placeholders as written, and no locks, since the one
// connection already runs every transaction alone.
type sqliteDialect struct{}

func (sqliteDialect) rebind(query string) string                  { return query }
func (sqliteDialect) lock(context.Context, *sql.Tx, string) error { return nil }
