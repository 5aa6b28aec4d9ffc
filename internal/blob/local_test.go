package blob_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/blob/blobtest"
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

func TestLocalConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		l, _ := newLocal(t)
		return l
	})
}

func TestLocalPathAndDirectories(t *testing.T) {
	ctx := t.Context()
	l, dir := newLocal(t)
	if _, err := l.Put(ctx, "videos/v1/source", strings.NewReader("hello, world")); err != nil {
		t.Fatal(err)
	}
	p, err := l.Path(ctx, "videos/v1/source")
	if err != nil || p != filepath.Join(dir, "videos", "v1", "source") {
		t.Errorf("Path = %q, %v", p, err)
	}
	if _, err := l.Path(ctx, "videos/v1/missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Path(missing) = %v, want ErrNotFound", err)
	}
	if err := l.Delete(ctx, "videos/v1/source"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "videos", "v1")); !os.IsNotExist(err) {
		t.Errorf("empty parent directory left behind: %v", err)
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

func TestLocalFailedPutLeavesNoTemporaryFile(t *testing.T) {
	ctx := t.Context()
	l, dir := newLocal(t)
	if _, err := l.Put(ctx, "a/b", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "a/b", &failingReader{n: 1 << 16}); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestKeyAttacks: what the suite's invalid keys cannot do, symlinks
// planted in the directory cannot either.
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
