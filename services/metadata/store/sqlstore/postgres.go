package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

	"github.com/streamgate/streamgate/internal/pgdb"
	"github.com/streamgate/streamgate/internal/sqlbind"
)

// pgMigrationLock is the advisory lock key held while migrating ("STGMD",
// one-key form, as every version of this store has taken it).
const pgMigrationLock int64 = 0x5354474d44

// OpenPostgres connects to the PostgreSQL database at url
// (postgres://...), which several instances may share, and applies pending
// migrations; instances starting at once migrate one after the other.
func OpenPostgres(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	// pgx prepares statements; after five runs PostgreSQL may switch to a
	// generic plan, which cannot see how selective a search query or a tag
	// is and then scans the status index instead of the GIN indexes. Our
	// queries plan in well under a millisecond, so always plan for the
	// actual values.
	db, closePool, err := pgdb.Open(ctx, url, pgdb.Options{RuntimeParams: map[string]string{"plan_cache_mode": "force_custom_plan"}})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return open(ctx, db, pgDialect{}, closePool, logger)
}

// pgDialect: $n placeholders, a generated tsvector for search and a
// generated tag array for the tag filter, both under GIN indexes.
type pgDialect struct{}

func (pgDialect) name() string { return "postgres" }

func (pgDialect) rebind(query string) string { return sqlbind.Numbered(query) }

// lockSchema takes a transaction-scoped advisory lock: released at commit
// or rollback, and by the server if the instance dies.
func (pgDialect) lockSchema(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrationLock)
	return err
}

func (pgDialect) migrationsTable() (create, record string) {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (?, to_timestamp(?::bigint / 1e6))`
}

// setTags has nothing to do: tag_list is generated from the tags column.
func (pgDialect) setTags(context.Context, *sql.Tx, string, []string) error { return nil }

func (pgDialect) hasTag() string { return `tag_list @> ARRAY[?::text]` }

func (pgDialect) search(columns string) string {
	return `SELECT ` + columns + ` FROM videos, to_tsquery('simple', ?) AS q
		WHERE search @@ q AND status = ?
		ORDER BY ts_rank(search, q) DESC, create_us DESC, id DESC LIMIT ? OFFSET ?`
}

// match builds a to_tsquery expression: each word a quoted lexeme (quotes
// and backslashes escaped, so no tsquery operator in user input is ever
// interpreted), all required, the last one a prefix.
func (pgDialect) match(words []string) string {
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

// analyze also merges the GIN indexes' pending lists. VACUUM cannot run
// in a transaction; Analyze runs it alone.
func (pgDialect) analyze() string { return `VACUUM ANALYZE videos` }
