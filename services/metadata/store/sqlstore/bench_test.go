package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/services/metadata/store/sqlstore"
	"github.com/streamgate/streamgate/services/metadata/store/storetest"
)

// go test -run '^$' -bench . ./services/metadata/store/sqlstore/
// ($METADATA_BENCH_ROWS videos per engine, default 100,000).

func BenchmarkSQLite(b *testing.B) {
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"), discard)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	vs := storetest.Load(b, s.InsertBatch, storetest.BenchRows())
	storetest.Bench(b, s, vs)
}

func BenchmarkPostgres(b *testing.B) {
	srv := pgtest.Start(b)
	s, err := sqlstore.OpenPostgres(context.Background(), srv.NewDatabase(b), discard)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	vs := storetest.Load(b, s.InsertBatch, storetest.BenchRows())
	if err := s.Analyze(context.Background()); err != nil {
		b.Fatal(err)
	}
	storetest.Bench(b, s, vs)
}
