package pgstore_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/services/metadata/store/pgstore"
	"github.com/streamgate/streamgate/services/metadata/store/storetest"
)

// BenchmarkStore: go test -run '^$' -bench . ./services/metadata/store/pgstore/
// ($METADATA_BENCH_ROWS videos, default 100,000).
func BenchmarkStore(b *testing.B) {
	srv := pgtest.Start(b)
	s, err := pgstore.Open(context.Background(), srv.NewDatabase(b), slog.New(slog.NewTextHandler(io.Discard, nil)))
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
