package auth

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS nonces (
	nonce    TEXT PRIMARY KEY,
	address  TEXT NOT NULL,
	chain_id INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	used     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS nonces_by_address ON nonces(address, expires);
CREATE TABLE IF NOT EXISTS sessions (
	id          TEXT PRIMARY KEY,
	address     TEXT NOT NULL,
	chain_id    INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	max_expires INTEGER NOT NULL,
	revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
	hash       BLOB PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	expires    INTEGER NOT NULL,
	used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_by_session ON refresh_tokens(session_id);
CREATE TABLE IF NOT EXISTS signing_keys (
	kid         TEXT PRIMARY KEY,
	private_key BLOB NOT NULL,
	activate    INTEGER NOT NULL,
	retire      INTEGER
);
CREATE TABLE IF NOT EXISTS playback_grants (
	video_id TEXT NOT NULL,
	address  TEXT NOT NULL,
	policy   BLOB NOT NULL,
	expires  INTEGER NOT NULL,
	issued   INTEGER NOT NULL,
	checked  INTEGER NOT NULL,
	PRIMARY KEY (video_id, address)
);
CREATE INDEX IF NOT EXISTS grants_by_address ON playback_grants(address);
CREATE INDEX IF NOT EXISTS grants_by_checked ON playback_grants(checked, video_id, address);
CREATE TABLE IF NOT EXISTS content_keys (
	video_id TEXT NOT NULL,
	scope    TEXT NOT NULL,
	kid      BLOB NOT NULL,
	key      BLOB NOT NULL,
	created  INTEGER NOT NULL,
	PRIMARY KEY (video_id, scope)
);
CREATE TABLE IF NOT EXISTS content_key_previews (
	video_id TEXT NOT NULL PRIMARY KEY,
	seconds  INTEGER NOT NULL
);
`

// openSQLite opens (or creates) auth.db in dir: the store of a single
// instance.
func openSQLite(ctx context.Context, dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "auth.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer anyway, and a single
	// connection makes every transaction serial, so no SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("auth: create schema: %w", err)
	}
	return &store{db: db, d: sqliteDialect{}}, nil
}

// sqliteDialect: ? placeholders as written, and no locks, since the one
// connection already runs every transaction alone.
type sqliteDialect struct{}

func (sqliteDialect) rebind(query string) string                  { return query }
func (sqliteDialect) lock(context.Context, *sql.Tx, string) error { return nil }
func (sqliteDialect) forUpdate() string                           { return "" }
