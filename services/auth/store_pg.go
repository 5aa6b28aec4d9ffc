package auth

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/streamgate/streamgate/internal/pgdb"
	"github.com/streamgate/streamgate/internal/sqlbind"
)

// pgSchema holds auth's tables, so that auth and metadata (in the default
// schema) can share one database. Not "auth": hosted PostgreSQL products
// ship an "auth" schema with sessions and refresh_tokens tables of their
// own, which CREATE TABLE IF NOT EXISTS would silently adopt.
const pgSchema = "streamgate_auth"

// pgLockClass is the first key of every advisory lock auth takes (the
// two-key form, a key space apart from the one-key locks metadata takes);
// the second key is a hash of the lock's name.
const pgLockClass int32 = 0x53474155 // "SGAU"

// pgSchemaDDL is idempotent: every instance applies it at start, one at a
// time (pgdb.Migrate).
const pgSchemaDDL = `
CREATE SCHEMA IF NOT EXISTS ` + pgSchema + `;
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.nonces (
	nonce    text    PRIMARY KEY,
	address  text    NOT NULL,
	chain_id bigint  NOT NULL,
	expires  bigint  NOT NULL,
	used     integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS nonces_by_address ON ` + pgSchema + `.nonces (address, expires);
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.sessions (
	id          text    PRIMARY KEY,
	address     text    NOT NULL,
	chain_id    bigint  NOT NULL,
	created     bigint  NOT NULL,
	expires     bigint  NOT NULL,
	max_expires bigint  NOT NULL,
	revoked     integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.refresh_tokens (
	hash       bytea   PRIMARY KEY,
	session_id text    NOT NULL REFERENCES ` + pgSchema + `.sessions (id) ON DELETE CASCADE,
	expires    bigint  NOT NULL,
	used       integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_by_session ON ` + pgSchema + `.refresh_tokens (session_id);
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.signing_keys (
	kid         text COLLATE "C" PRIMARY KEY,
	private_key bytea  NOT NULL,
	activate    bigint NOT NULL,
	retire      bigint
);
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.playback_grants (
	video_id text   NOT NULL,
	address  text   NOT NULL,
	policy   bytea  NOT NULL,
	expires  bigint NOT NULL,
	issued   bigint NOT NULL,
	checked  bigint NOT NULL,
	PRIMARY KEY (video_id, address)
);
CREATE INDEX IF NOT EXISTS grants_by_address ON ` + pgSchema + `.playback_grants (address);
CREATE INDEX IF NOT EXISTS grants_by_checked ON ` + pgSchema + `.playback_grants (checked, video_id, address);
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.content_keys (
	video_id text COLLATE "C" NOT NULL,
	scope    text COLLATE "C" NOT NULL,
	kid      bytea  NOT NULL,
	key      bytea  NOT NULL,
	created  bigint NOT NULL,
	PRIMARY KEY (video_id, scope)
);
CREATE TABLE IF NOT EXISTS ` + pgSchema + `.content_key_previews (
	video_id text COLLATE "C" NOT NULL PRIMARY KEY,
	seconds  bigint NOT NULL
);
`

// openPostgres connects to the database at url (postgres://...), shared
// by every auth instance, and creates auth's schema if needed.
func openPostgres(ctx context.Context, url string) (*store, error) {
	db, closePool, err := pgdb.Open(ctx, url, pgdb.Options{Schema: pgSchema})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &store{db: db, d: pgDialect{}, closePool: closePool}
	if err := pgdb.Migrate(ctx, db, pgLockClass, pgSchemaDDL); err != nil {
		s.Close()
		return nil, fmt.Errorf("auth: create schema: %w", err)
	}
	return s, nil
}

// pgDialect: $n placeholders, advisory locks, row locks.
type pgDialect struct{}

func (pgDialect) rebind(query string) string { return sqlbind.Numbered(query) }

// lock takes a transaction-scoped advisory lock: it is released at commit
// or rollback, and by the server if the instance dies.
func (pgDialect) lock(ctx context.Context, tx *sql.Tx, key string) error {
	return pgdb.LockXact(ctx, tx, pgLockClass, key)
}

func (pgDialect) forUpdate() string { return " FOR UPDATE" }
