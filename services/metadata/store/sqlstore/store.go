// Package sqlstore is the metadata store on SQL: SQLite (modernc.org/sqlite,
// WAL, FTS5) for one instance, or PostgreSQL (pgx, a tsvector with a GIN
// index) shared by several. The queries and the video state machine are
// written once, with ? placeholders; what differs between the engines (the
// placeholders, the tag index, full-text search, the migration lock) sits
// behind dialect. Times are Unix microseconds on both.
//
// Every guarded step is a conditional write whose affected rows decide,
// never a read followed by a write: a create inserts only an id and a
// request id nobody holds, an edit matches only the version the caller
// read, a transition only a video in a state it may leave. So a retried
// request, a redelivered event or another instance sharing the PostgreSQL
// database changes a video at most once, and exactly one caller reports the
// change.
//
// Each engine has its own numbered migrations (migrations/<engine>),
// applied in one transaction at open and recorded in schema_migrations.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrations embed.FS

// Store is the metadata store. It is safe for concurrent use.
type Store struct {
	db        *sql.DB
	d         dialect
	closePool func() // PostgreSQL: the pool under db
	logger    *slog.Logger
	now       func() time.Time
}

// dialect is what the two engines do differently for the same store.
type dialect interface {
	// name is "sqlite" or "postgres": the engine in logs and errors, and
	// the directory of its migrations.
	name() string
	// rebind rewrites a query's ? placeholders into the engine's.
	rebind(query string) string
	// lockSchema makes instances that open the database at once migrate
	// it one after the other.
	lockSchema(ctx context.Context, tx *sql.Tx) error
	// migrationsTable returns the DDL of schema_migrations and the INSERT
	// that records a migration, given its version and the time in Unix µs.
	migrationsTable() (create, record string)
	// setTags keeps the index behind hasTag in step with a video's tags,
	// when the engine does not derive it from the tags column itself.
	setTags(ctx context.Context, tx *sql.Tx, id string, tags []string) error
	// hasTag is a condition on videos that holds when the video has the
	// tag bound to its one ?.
	hasTag() string
	// search returns a query selecting columns of the READY videos that
	// match, best first, then newest first, then by id descending. Its
	// arguments: match(words), the READY status, limit and offset.
	search(columns string) string
	// match renders query words for search: each word literal, all
	// required, the last one a prefix.
	match(words []string) string
	// analyze is the statement that refreshes the planner's statistics
	// after a bulk load ("" for none).
	analyze() string
}

// open wraps db and applies the pending migrations; it closes db when
// they fail.
// Engine names the database engine: "sqlite" or "postgres".
func (s *Store) Engine() string { return s.d.name() }

func open(ctx context.Context, db *sql.DB, d dialect, closePool func(), logger *slog.Logger) (*Store, error) {
	s := &Store{db: db, d: d, closePool: closePool, logger: logger,
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.closePool != nil {
		s.closePool()
	}
	return err
}

// q rebinds a query for the engine.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

func us(t time.Time) int64     { return t.UnixMicro() }
func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

// migrate applies the engine's migrations not yet recorded in
// schema_migrations, all in one transaction.
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/"+s.d.name()+"/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	create, record := s.d.migrationsTable()
	var applied []string
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.d.lockSchema(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return err
		}
		for _, f := range files {
			version, err := migrationVersion(path.Base(f))
			if err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			body, err := migrations.ReadFile(f)
			if err != nil {
				return err
			}
			// No arguments: on PostgreSQL the simple protocol, which runs
			// several statements in one call.
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(record), version, us(s.now())); err != nil {
				return err
			}
			applied = append(applied, f)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate %s: %w", s.d.name(), err)
	}
	for _, f := range applied {
		s.logger.InfoContext(ctx, "applied migration", "engine", s.d.name(), "file", f)
	}
	return nil
}

// migrationVersion reads the leading number of "0001_name.sql".
func migrationVersion(file string) (int, error) {
	num, _, ok := strings.Cut(file, "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("migration %s: name must start with a positive number and '_'", file)
	}
	return v, nil
}

// Analyze refreshes the planner's statistics, as autovacuum would after a
// bulk load: PostgreSQL's, and its GIN indexes' pending lists. On SQLite
// it does nothing.
func (s *Store) Analyze(ctx context.Context) error {
	q := s.d.analyze()
	if q == "" {
		return nil
	}
	_, err := s.db.ExecContext(ctx, q)
	return err
}
