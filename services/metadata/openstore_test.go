package metadata

import (
	"path/filepath"
	"testing"

	"github.com/streamgate/streamgate/services/metadata/store/sqlstore"
)

func TestOpenStore(t *testing.T) {
	logger := testLogger(t)
	dir := t.TempDir()
	for _, url := range []string{"sqlite://" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")} {
		st, err := OpenStore(t.Context(), url, logger)
		if err != nil {
			t.Fatalf("OpenStore(%q): %v", url, err)
		}
		if s, ok := st.(*sqlstore.Store); !ok || s.Engine() != "sqlite" {
			t.Errorf("OpenStore(%q) = %T, want SQLite", url, st)
		}
		st.Close()
	}
	for _, url := range []string{"", "mysql://x/y"} {
		if _, err := OpenStore(t.Context(), url, logger); err == nil {
			t.Errorf("OpenStore(%q) succeeded", url)
		}
	}
	if _, err := New(Config{DatabaseURL: filepath.Join(dir, "c.db")}, nil, nil, logger); err == nil {
		t.Error("New without a bus succeeded")
	}
}
