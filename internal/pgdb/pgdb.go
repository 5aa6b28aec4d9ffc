// Package pgdb opens the PostgreSQL databases of StreamGate's stores (auth,
// upload, metadata): a pgx pool behind database/sql, so that a store's
// queries are shared with its SQLite variant, and schema set-up that
// instances starting at once run one after the other.
package pgdb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// DefaultMaxConns bounds the connections one store opens unless
// Options.MaxConns says otherwise.
const DefaultMaxConns = 10

// MigrateTimeout bounds Migrate, the wait for the lock included.
const MigrateTimeout = time.Minute

// Options tune Open.
type Options struct {
	// Schema, when set, is every connection's search_path (whatever the
	// URL says), so that queries name the store's tables unqualified, as
	// on SQLite.
	Schema string
	// MaxConns bounds the pool; 0 is DefaultMaxConns.
	MaxConns int32
	// RuntimeParams are set on every connection, each unless the URL
	// sets it.
	RuntimeParams map[string]string
}

// Open connects to the database at url (postgres://...) and returns a
// *sql.DB over a pgx pool, and the function that closes the pool (after
// the *sql.DB). database/sql keeps as many connections open and idle as
// the pool holds, so that it does not close connections the pool would
// keep.
func Open(ctx context.Context, url string, o Options) (db *sql.DB, closePool func(), err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("database URL: %w", err)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	cfg.MaxConns = o.MaxConns
	for k, v := range o.RuntimeParams {
		if _, ok := cfg.ConnConfig.RuntimeParams[k]; !ok {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if o.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = o.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	db = stdlib.OpenDBFromPool(pool)
	db.SetMaxOpenConns(int(o.MaxConns))
	db.SetMaxIdleConns(int(o.MaxConns))
	return db, pool.Close, nil
}

// LockXact takes the transaction-scoped advisory lock (class, a hash of
// key): it is released at commit or rollback, and by the server if the
// instance dies. Each store has its own class, so that the stores sharing
// a database never wait on each other's locks.
func LockXact(ctx context.Context, tx *sql.Tx, class int32, key string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, class, key)
	return err
}

// Migrate runs steps, idempotent DDL, in order in one transaction under
// the "migrate" lock of class (LockXact), within MigrateTimeout: instances
// starting at once apply them one after the other (concurrent CREATE
// SCHEMA/TABLE IF NOT EXISTS can otherwise fail on a unique violation in
// the catalog), and a failed step leaves nothing half done.
func Migrate(ctx context.Context, db *sql.DB, class int32, steps ...string) error {
	ctx, cancel := context.WithTimeout(ctx, MigrateTimeout)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := LockXact(ctx, tx, class, "migrate"); err != nil {
		return err
	}
	for i, step := range steps {
		if _, err := tx.ExecContext(ctx, step); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return tx.Commit()
}
