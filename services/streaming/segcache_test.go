package streaming

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/testing/s3test"
)

// TestSegmentCacheEvictedFileStaysReadable: a request that opened a cached
// file keeps reading it whole after the entry is evicted and its file
// removed; the cache's own leftovers in the directory are removed at start,
// nothing else.
func TestSegmentCacheEvictedFileStaysReadable(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	store, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	for i, k := range []string{"v/a.m4s", "v/b.m4s", "v/c.m4s"} {
		objects[k] = bytes.Repeat([]byte{byte('a' + i)}, 300_000)
		if _, err := store.Put(t.Context(), k, bytes.NewReader(objects[k])); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"seg-leftover", "tmp-leftover", "keep.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := newSegmentCache(dir, 700_000, 700_000, time.Hour, store, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 || des[0].Name() != "keep.txt" {
		t.Fatalf("after start the directory holds %v, want only keep.txt", des)
	}

	f, info, res, err := c.open(t.Context(), "v/a.m4s")
	if err != nil || res != cacheMiss || info.Size != 300_000 {
		t.Fatalf("open a: %v, result %v, size %d", err, res, info.Size)
	}
	defer f.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v/b.m4s", "v/c.m4s"} { // a is evicted by c
		g, _, _, err := c.open(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		_ = g.Close()
	}
	if n, size := c.usage(); n != 2 || size != 600_000 {
		t.Errorf("usage %d objects, %d bytes; want 2, 600000", n, size)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Fatalf("evicted file still in the directory: %v", err)
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, objects["v/a.m4s"]) {
		t.Errorf("read %d bytes from the evicted file, want the whole object", len(got))
	}
	g, _, res, err := c.open(t.Context(), "v/c.m4s")
	if err != nil || res != cacheHit {
		t.Fatalf("open c again: %v, result %v; want a hit", err, res)
	}
	_ = g.Close()
}
