package pgstore_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/metadata/store/pgstore"
	"github.com/streamgate/streamgate/services/metadata/store/storetest"
)

func TestSuite(t *testing.T) {
	srv := pgtest.Start(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	storetest.Run(t, func(t *testing.T) metadata.Store {
		s, err := pgstore.Open(t.Context(), srv.NewDatabase(t), logger)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	// Migrations already applied are skipped.
	url := srv.NewDatabase(t)
	for range 2 {
		s, err := pgstore.Open(t.Context(), url, logger)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		s.Close()
	}
}
