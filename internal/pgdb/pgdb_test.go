package pgdb_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/streamgate/streamgate/internal/pgdb"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
)

// Open sets the schema as search_path (over the URL's) and the runtime
// parameters the URL does not set.
func TestOpen(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, closePool, err := pgdb.Open(t.Context(), url+sep+"search_path=public&application_name=fromurl",
		pgdb.Options{Schema: "s1", MaxConns: 3, RuntimeParams: map[string]string{"application_name": "default", "plan_cache_mode": "force_custom_plan"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(); closePool() })
	for _, tt := range []struct{ param, want string }{
		{"search_path", "s1"},
		{"application_name", "fromurl"},
		{"plan_cache_mode", "force_custom_plan"},
	} {
		var got string
		if err := db.QueryRowContext(t.Context(), "SELECT current_setting($1)", tt.param).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.param, got, tt.want)
		}
	}
	if got := db.Stats().MaxOpenConnections; got != 3 {
		t.Errorf("MaxOpenConnections = %d, want 3", got)
	}
	if _, _, err := pgdb.Open(t.Context(), "mysql://nope", pgdb.Options{}); err == nil {
		t.Error("Open accepted a URL that is not PostgreSQL's")
	}
}

// Instances migrating at once take turns: no step fails on the catalog,
// and a failing step leaves nothing of the others behind.
func TestMigrate(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	const ddl = `CREATE SCHEMA IF NOT EXISTS m1;
CREATE TABLE IF NOT EXISTS m1.t (id text PRIMARY KEY);
CREATE INDEX IF NOT EXISTS t_by_id ON m1.t (id)`
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			db, closePool, err := pgdb.Open(context.Background(), url, pgdb.Options{Schema: "m1"})
			if err != nil {
				errs <- err
				return
			}
			defer closePool()
			defer db.Close()
			errs <- pgdb.Migrate(t.Context(), db, 0x54455354, ddl, `CREATE TABLE IF NOT EXISTS u (n integer)`)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}

	db, closePool, err := pgdb.Open(t.Context(), url, pgdb.Options{Schema: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(); closePool() })
	// The second step ran after the first, in the schema of search_path.
	if _, err := db.ExecContext(t.Context(), `INSERT INTO t (id) VALUES ('a'); INSERT INTO u (n) VALUES (1)`); err != nil {
		t.Fatalf("tables of the migration: %v", err)
	}
	err = pgdb.Migrate(t.Context(), db, 0x54455354, `CREATE TABLE v (n integer)`, `SELECT no_such_function()`)
	if err == nil || !strings.Contains(err.Error(), "step 2") {
		t.Fatalf("Migrate with a failing step 2: %v", err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'm1' AND tablename = 'v'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("step 1 of a failed migration stayed: %d tables v, %v", n, err)
	}
}
