package sqlitestore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/streamgate/streamgate/services/metadata/store/sqlitestore"
	"github.com/streamgate/streamgate/services/metadata/store/storetest"
)

// BenchmarkStore: go test -run '^$' -bench . ./services/metadata/store/sqlitestore/
// ($METADATA_BENCH_ROWS videos, default 100,000).
func BenchmarkStore(b *testing.B) {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	vs := storetest.Load(b, s.InsertBatch, storetest.BenchRows())
	storetest.Bench(b, s, vs)
}
