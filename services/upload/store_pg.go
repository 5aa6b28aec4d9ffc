package upload

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/streamgate/streamgate/internal/pgdb"
	"github.com/streamgate/streamgate/internal/sqlbind"
)

// pgSchema holds upload's tables, so that upload can share one database
// with auth (streamgate_auth) and metadata (the default schema).
const pgSchema = "streamgate_upload"

// pgLockClass is the first key of every advisory lock upload takes (the
// two-key form; auth uses its own class, metadata the one-key form); the
// second key is a hash of the lock's name.
const pgLockClass int32 = 0x53475550 // "SGUP"

// Ids are compared byte-wise (COLLATE "C"), as on SQLite, so that the
// list cursor orders the same whatever the database's locale.
//
// pgSchemaDDL is idempotent: every instance applies it at start, one at a
// time (pgdb.Migrate).
const pgSchemaDDL = `
CREATE SCHEMA IF NOT EXISTS ` + pgSchema + `;
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.uploads (
	id             text    COLLATE "C" PRIMARY KEY,
	video_id       text    NOT NULL DEFAULT '',
	creator        text    NOT NULL,
	request_id     text    NOT NULL,
	request_hash   text    NOT NULL,
	title          text    NOT NULL,
	description    text    NOT NULL,
	tags           text    NOT NULL,
	policy         bytea,
	size           bigint  NOT NULL,
	content_type   text    NOT NULL,
	filename       text    NOT NULL,
	state          integer NOT NULL,
	offset_bytes   bigint  NOT NULL DEFAULT 0,
	sha256         text    NOT NULL DEFAULT '',
	media_info     bytea,
	failure_reason text    NOT NULL DEFAULT '',
	create_time    bigint  NOT NULL,
	update_time    bigint  NOT NULL,
	expire_time    bigint  NOT NULL,
	UNIQUE (creator, request_id)
);
CREATE INDEX IF NOT EXISTS uploads_by_creator ON ` + pgSchema + `.uploads (creator, create_time DESC, id DESC);
CREATE INDEX IF NOT EXISTS uploads_by_state ON ` + pgSchema + `.uploads (state, expire_time);
CREATE INDEX IF NOT EXISTS uploads_by_video ON ` + pgSchema + `.uploads (video_id);
`

// openPostgres connects to the database at url (postgres://...), shared
// by every upload instance, and creates upload's schema if needed.
func openPostgres(ctx context.Context, url string) (*store, error) {
	db, closePool, err := pgdb.Open(ctx, url, pgdb.Options{Schema: pgSchema})
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	s := &store{db: db, d: pgDialect{}, closePool: closePool}
	if err := pgdb.Migrate(ctx, db, pgLockClass, pgSchemaDDL); err != nil {
		s.Close()
		return nil, fmt.Errorf("upload: create schema: %w", err)
	}
	return s, nil
}

// pgDialect: $n placeholders and advisory locks.
type pgDialect struct{}

func (pgDialect) rebind(query string) string { return sqlbind.Numbered(query) }

// lock takes a transaction-scoped advisory lock: it is released at commit
// or rollback, and by the server if the instance dies.
func (pgDialect) lock(ctx context.Context, tx *sql.Tx, key string) error {
	return pgdb.LockXact(ctx, tx, pgLockClass, key)
}
