package sqlitestore_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/metadata/store/sqlitestore"
	"github.com/streamgate/streamgate/services/metadata/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metadata.Store {
		s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "meta.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sqlitestore.Open(t.Context(), path, logger)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Migrations already applied are skipped.
	s, err = sqlitestore.Open(t.Context(), path, logger)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
}
