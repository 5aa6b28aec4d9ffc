package sqlstore_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/metadata/store"
	"github.com/streamgate/streamgate/services/metadata/store/sqlstore"
	"github.com/streamgate/streamgate/services/metadata/store/storetest"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// engine is one database engine under test.
type engine struct {
	name   string
	driver string                    // database/sql driver, to write a database as the previous store did
	newDB  func(t testing.TB) string // an empty database: a file path or a URL
	open   func(ctx context.Context, dsn string, logger *slog.Logger) (*sqlstore.Store, error)
	// legacy writes, after the engine's first migration, one READY video
	// and one DELETED with its queued media removal, as the store before
	// sqlstore did (PostgreSQL: timestamptz columns).
	legacy string
}

func engines(t *testing.T) []engine {
	srv := pgtest.Start(t)
	return []engine{
		{
			name: "sqlite", driver: "sqlite",
			newDB: func(t testing.TB) string { return filepath.Join(t.TempDir(), "meta.db") },
			open:  sqlstore.OpenSQLite,
			legacy: `
INSERT INTO schema_migrations (version, applied_us) VALUES (1, 1795860000000000);
INSERT INTO videos (id, creator, request_id, title, description, tags, status, status_reason, duration_us, renditions, poster_path,
	storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info, create_us, update_us, version) VALUES
	('vid_legacy_ready', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 'req-1', 'Legacy concert', 'kept', 'music live', 3, '', 20500000, '[]',
	 'poster.jpg', '', 'master.m3u8', '', '', 0, 'upl_1', '', 1795860000123456, 1795860001654321, 4),
	('vid_legacy_deleted', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', NULL, 'Gone', '', '', 5, 'deleted by creator', 0, '[]',
	 '', '', '', '', '', 0, '', '', 1795860000000000, 1795860002000001, 2);
INSERT INTO video_tags (video_id, tag) VALUES ('vid_legacy_ready', 'music'), ('vid_legacy_ready', 'live');
INSERT INTO media_deletions (video_id, requested_at) VALUES ('vid_legacy_deleted', 1795860002000001);`,
		},
		{
			name: "postgres", driver: "pgx",
			newDB: srv.NewDatabase,
			open:  sqlstore.OpenPostgres,
			legacy: `
CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL);
INSERT INTO schema_migrations (version, applied_at) VALUES (1, now());
INSERT INTO videos (id, creator, request_id, title, description, tags, status, status_reason, duration_us, renditions, poster_path,
	storyboard_path, hls_path, dash_path, policy, gated, upload_id, media_info, create_time, update_time, version) VALUES
	('vid_legacy_ready', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 'req-1', 'Legacy concert', 'kept', 'music live', 3, '', 20500000, '[]',
	 'poster.jpg', '', 'master.m3u8', '', '', false, 'upl_1', '', '2026-11-28 10:00:00.123456+00', '2026-11-28 10:00:01.654321+00', 4),
	('vid_legacy_deleted', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', NULL, 'Gone', '', '', 5, 'deleted by creator', 0, '[]',
	 '', '', '', '', '', false, '', '', '2026-11-28 10:00:00+00', '2026-11-28 10:00:02.000001+00', 2);
INSERT INTO media_deletions (video_id, requested_at) VALUES ('vid_legacy_deleted', '2026-11-28 10:00:02.000001+00');`,
		},
	}
}

func TestEngines(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Run("Suite", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) metadata.Store {
					s, err := e.open(t.Context(), e.newDB(t), discard)
					if err != nil {
						t.Fatal(err)
					}
					return s
				})
			})
			t.Run("Reopen", func(t *testing.T) { testReopen(t, e) })
			t.Run("PreviousStore", func(t *testing.T) { testPreviousStore(t, e) })
		})
	}
}

// testReopen opens one database again, and from several instances at once:
// migrations already applied are skipped, and one instance applies each.
func testReopen(t *testing.T, e engine) {
	dsn := e.newDB(t)
	s, err := e.open(t.Context(), dsn, discard)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := e.open(t.Context(), dsn, discard)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d of %d: %v", i+1, n, err)
		}
	}
}

// testPreviousStore opens a database the store before sqlstore wrote, at
// its first migration, and reads back every value it held.
func testPreviousStore(t *testing.T, e engine) {
	dsn := e.newDB(t)
	initial, err := os.ReadFile(filepath.Join("migrations", e.name, "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open(e.driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if e.name == "sqlite" {
		if _, err := raw.ExecContext(t.Context(), `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{string(initial), e.legacy} {
		if _, err := raw.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("write the previous store's database: %v", err)
		}
	}
	raw.Close()

	s, err := e.open(t.Context(), dsn, discard)
	if err != nil {
		t.Fatalf("open the previous store's database: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	v, err := s.GetVideo(ctx, "vid_legacy_ready")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 28, 10, 0, 0, 123456000, time.UTC)
	if !v.CreateTime.Equal(created) || v.CreateTime.Location() != time.UTC ||
		!v.UpdateTime.Equal(time.Date(2026, 11, 28, 10, 0, 1, 654321000, time.UTC)) ||
		v.Version != 4 || v.Status != store.StatusReady || v.RequestID != "req-1" || v.Duration != 20500*time.Millisecond {
		t.Errorf("previous video read back as %+v", v)
	}
	for _, q := range []store.ListQuery{
		{Tag: "live", Limit: 10},
		{Statuses: []store.Status{store.StatusReady}, After: &store.Cursor{CreateTime: created.Add(time.Microsecond), ID: ""}, Limit: 10},
	} {
		if list, err := s.ListVideos(ctx, q); err != nil || len(list) != 1 || list[0].ID != v.ID {
			t.Errorf("ListVideos(%+v): %d videos, %v; want the previous one", q, len(list), err)
		}
	}
	if found, err := s.SearchVideos(ctx, store.SearchQuery{Words: []string{"concert"}, Limit: 10}); err != nil || len(found) != 1 {
		t.Errorf("SearchVideos(concert): %d videos, %v; want the previous one", len(found), err)
	}
	pending, err := s.PendingMediaDeletions(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].VideoID != "vid_legacy_deleted" ||
		!pending[0].RequestTime.Equal(time.Date(2026, 11, 28, 10, 0, 2, 1000, time.UTC)) {
		t.Errorf("pending media deletions %+v, %v", pending, err)
	}
	if got, changed, err := s.DeleteVideo(ctx, "vid_legacy_deleted", 0, "again"); err != nil || changed || got.Version != 2 {
		t.Errorf("DeleteVideo(previous deleted): changed %v err %v", changed, err)
	}
	got, err := s.UpdateVideo(ctx, v.ID, v.Version, store.Edit{Title: "Renamed", Tags: []string{"talk"}})
	if err != nil || got.Version != 5 || got.CreateTime != v.CreateTime {
		t.Fatalf("UpdateVideo(previous): %+v, %v", got, err)
	}
	if list, err := s.ListVideos(ctx, store.ListQuery{Tag: "live", Limit: 10}); err != nil || len(list) != 0 {
		t.Errorf("tag live after the update: %d videos, %v; want none", len(list), err)
	}
}
