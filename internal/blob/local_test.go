package blob_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/streamgate/streamgate/internal/blob"
)

func newLocal(t *testing.T) (*blob.Local, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	l, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Dir()
}

func readAll(t *testing.T, rc io.ReadCloser, err error) string {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestPutGetStatRangeListDelete(t *testing.T) {
	ctx := t.Context()
	l, dir := newLocal(t)
	n, err := l.Put(ctx, "videos/v1/source", strings.NewReader("hello, world"))
	if err != nil || n != 12 {
		t.Fatalf("Put = %d, %v; want 12, nil", n, err)
	}
	if _, err := l.Put(ctx, "videos/v2/source", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "other", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
	rc, err := l.Get(ctx, "videos/v1/source")
	if got := readAll(t, rc, err); got != "hello, world" {
		t.Errorf("Get = %q", got)
	}
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{0, 5, "hello"}, {7, -1, "world"}, {7, 100, "world"}, {12, 3, ""}} {
		rc, err := l.GetRange(ctx, "videos/v1/source", tc.off, tc.n)
		if got := readAll(t, rc, err); got != tc.want {
			t.Errorf("GetRange(%d, %d) = %q, want %q", tc.off, tc.n, got, tc.want)
		}
	}
	info, err := l.Stat(ctx, "videos/v1/source")
	if err != nil || info.Size != 12 || info.Key != "videos/v1/source" {
		t.Errorf("Stat = %+v, %v", info, err)
	}
	list, err := l.List(ctx, "videos/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, i := range list {
		keys = append(keys, i.Key)
	}
	if got, want := strings.Join(keys, ","), "videos/v1/source,videos/v2/source"; got != want {
		t.Errorf("List(videos/) = %s, want %s", got, want)
	}
	list, err = l.List(ctx, "videos/v1/s")
	if err != nil || len(list) != 1 {
		t.Errorf("List(videos/v1/s) = %v, %v", list, err)
	}
	list, err = l.List(ctx, "")
	if err != nil || len(list) != 3 {
		t.Errorf("List('') = %v, %v", list, err)
	}
	list, err = l.List(ctx, "nothing/here/")
	if err != nil || len(list) != 0 {
		t.Errorf("List(nothing) = %v, %v", list, err)
	}
	p, err := l.Path(ctx, "videos/v1/source")
	if err != nil || p != filepath.Join(dir, "videos", "v1", "source") {
		t.Errorf("Path = %q, %v", p, err)
	}
	if err := l.Delete(ctx, "videos/v1/source"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "videos/v1/source"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "videos", "v1")); !os.IsNotExist(err) {
		t.Errorf("empty parent directory left behind: %v", err)
	}
	if _, err := l.Stat(ctx, "videos/v1/source"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if _, err := l.Get(ctx, "videos/v1/source"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'z'
	}
	f.n -= k
	return k, nil
}

func TestPutIsAtomic(t *testing.T) {
	ctx := t.Context()
	l, dir := newLocal(t)
	if _, err := l.Put(ctx, "a/b", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "a/b", &failingReader{n: 1 << 16}); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	rc, err := l.Get(ctx, "a/b")
	if got := readAll(t, rc, err); got != "old" {
		t.Errorf("after a failed Put, Get = %q, want the old object", got)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// Concurrent writers: the result is one of them, whole.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, _ = l.Put(ctx, "a/c", bytes.NewReader(bytes.Repeat([]byte{byte('0' + i)}, 100_000)))
		})
	}
	wg.Wait()
	rc, err = l.Get(ctx, "a/c")
	got := readAll(t, rc, err)
	if len(got) != 100_000 || strings.Count(got, got[:1]) != 100_000 {
		t.Errorf("concurrent Puts mixed their bytes (len %d)", len(got))
	}
}

func TestKeyAttacks(t *testing.T) {
	ctx := t.Context()
	l, dir := newLocal(t)
	outside := filepath.Join(filepath.Dir(dir), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(filepath.Dir(dir), "outdir")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "f"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Symlinks planted inside the store, pointing out of it.
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outDir, filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(dir, "rellink")); err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"", "..", "../secret", "a/../../secret", "a/..", "./a", "a/./b",
		"/etc/passwd", "/", "a//b", "a/", "a\\..\\secret", "..\\secret",
		"a\x00b", "a\nb", strings.Repeat("a", blob.MaxKeyBytes+1), "\xff",
		"link", "rellink", "dirlink/f", "dirlink/new", "a/.blobtmp-x",
	}
	// Symlink keys are checked for reads first: a Put over "link" may
	// replace the link itself (a rename inside the store), which is safe.
	links := map[string]bool{"link": true, "rellink": true}
	for _, key := range keys {
		t.Run(strings.ReplaceAll(key, "/", "|"), func(t *testing.T) {
			if _, err := l.Get(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := l.GetRange(ctx, key, 1, 2); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("GetRange(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := l.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := l.Path(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Path(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := l.Put(ctx, key, strings.NewReader("pwned")); !links[key] && !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			}
		})
	}
	for _, key := range []string{"dirlink/f", "../secret", "/etc/passwd"} {
		if err := l.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	for _, p := range []string{outside, filepath.Join(outDir, "f")} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "secret" {
			t.Errorf("%s was changed: %q, %v", p, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outDir, "new")); !os.IsNotExist(err) {
		t.Errorf("a file was created outside the store through a symlink")
	}
	if _, err := l.List(ctx, "../"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("List(../) = %v, want ErrInvalidKey", err)
	}
	list, err := l.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list {
		if strings.HasPrefix(i.Key, "dirlink") {
			t.Errorf("List followed a symlink out of the store: %v", i.Key)
		}
	}
}
