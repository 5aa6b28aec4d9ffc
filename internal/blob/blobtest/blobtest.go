// Package blobtest is the conformance suite every blob.Store backend
// passes: Local in a directory and S3 against a real S3 server run the same
// tests.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/blob"
)

// BigSize is the size of the large objects the suite writes (12 MiB): a
// backend whose part size is 5 MiB (blob.MinPartSize) writes them in three
// parts, and the failing and cancelled Puts fail in the second part.
const BigSize = 12 << 20

// Run runs the suite. newStore returns a new, empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutGet", testPutGet},
		{"GetRange", testGetRange},
		{"BigObject", testBigObject},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"OverwriteKeepsOpenReaders", testOverwriteKeepsOpenReaders},
		{"FailedPut", testFailedPut},
		{"CancelledPut", testCancelledPut},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func put(t *testing.T, s blob.Store, key string, b []byte) {
	t.Helper()
	n, err := s.Put(t.Context(), key, bytes.NewReader(b))
	if err != nil || n != int64(len(b)) {
		t.Fatalf("Put(%q) = %d, %v; want %d, nil", key, n, err, len(b))
	}
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	return readAll(t, rc, err)
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// pattern is n bytes that differ from position to position and from seed
// to seed, so a misplaced or mixed range shows.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

func testPutGet(t *testing.T, s blob.Store) {
	put(t, s, "videos/v1/source", []byte("hello, world"))
	if got := get(t, s, "videos/v1/source"); string(got) != "hello, world" {
		t.Errorf("Get = %q, want %q", got, "hello, world")
	}
	put(t, s, "videos/v1/source", []byte("replaced"))
	if got := get(t, s, "videos/v1/source"); string(got) != "replaced" {
		t.Errorf("Get after overwrite = %q, want %q", got, "replaced")
	}
	put(t, s, "empty", nil)
	if got := get(t, s, "empty"); len(got) != 0 {
		t.Errorf("Get(empty) = %q, want nothing", got)
	}
	// Keys with spaces, unicode and dots inside segments are fine.
	for _, key := range []string{"a b/c d.m4s", "vidéo/ß", "a/.hidden", "a/..x", "x.y/z..w"} {
		put(t, s, key, []byte(key))
		if got := get(t, s, key); string(got) != key {
			t.Errorf("Get(%q) = %q", key, got)
		}
	}
}

func testGetRange(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "k", []byte("hello, world"))
	put(t, s, "empty", nil)
	for _, tc := range []struct {
		key    string
		off, n int64
		want   string
	}{
		{"k", 0, -1, "hello, world"},
		{"k", 0, 5, "hello"},
		{"k", 7, -1, "world"},
		{"k", 7, 5, "world"},
		{"k", 7, 100, "world"},
		{"k", 11, 1, "d"},
		{"k", 3, 0, ""},
		{"k", 12, 3, ""},
		{"k", 12, -1, ""},
		{"k", 100, 1, ""},
		{"k", 100, -1, ""},
		{"empty", 0, -1, ""},
		{"empty", 0, 5, ""},
		{"empty", 3, -1, ""},
	} {
		rc, err := s.GetRange(ctx, tc.key, tc.off, tc.n)
		if got := readAll(t, rc, err); string(got) != tc.want {
			t.Errorf("GetRange(%s, %d, %d) = %q, want %q", tc.key, tc.off, tc.n, got, tc.want)
		}
	}
	if rc, err := s.GetRange(ctx, "k", -1, 2); err == nil {
		rc.Close()
		t.Error("GetRange with a negative offset succeeded")
	}
}

func testBigObject(t *testing.T, s blob.Store) {
	ctx := t.Context()
	want := pattern(1, BigSize)
	// A reader that is not a bytes.Reader: the store cannot know the size.
	n, err := s.Put(ctx, "big/object", io.MultiReader(bytes.NewReader(want[:1000]), bytes.NewReader(want[1000:])))
	if err != nil || n != BigSize {
		t.Fatalf("Put = %d, %v; want %d", n, err, BigSize)
	}
	if got := get(t, s, "big/object"); !bytes.Equal(got, want) {
		t.Fatalf("Get returned %d bytes, not the %d written", len(got), len(want))
	}
	info, err := s.Stat(ctx, "big/object")
	if err != nil || info.Size != BigSize {
		t.Errorf("Stat = %+v, %v; want size %d", info, err, BigSize)
	}
	for _, r := range [][2]int64{{5<<20 - 10, 20}, {10<<20 - 1, 3 << 20}, {BigSize - 1, -1}, {1, BigSize}} {
		rc, err := s.GetRange(ctx, "big/object", r[0], r[1])
		got := readAll(t, rc, err)
		end := int64(BigSize)
		if r[1] >= 0 {
			end = min(end, r[0]+r[1])
		}
		if !bytes.Equal(got, want[r[0]:end]) {
			t.Errorf("GetRange(%d, %d): %d bytes, not bytes %d to %d", r[0], r[1], len(got), r[0], end)
		}
	}
}

func testStat(t *testing.T, s blob.Store) {
	before := time.Now().Add(-2 * time.Second) // S3 keeps whole seconds
	put(t, s, "a/b/c", []byte("12345"))
	info, err := s.Stat(t.Context(), "a/b/c")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "a/b/c" || info.Size != 5 {
		t.Errorf("Stat = %+v, want key a/b/c, size 5", info)
	}
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(2*time.Second)) {
		t.Errorf("Stat ModTime = %v, want about now (%v)", info.ModTime, time.Now())
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "dir/present", []byte("x"))
	for _, key := range []string{"missing", "dir/missing", "missing/dir/key"} {
		if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		}
		for _, r := range [][2]int64{{0, 1}, {5, -1}, {100, 10}, {0, 0}} {
			if _, err := s.GetRange(ctx, key, r[0], r[1]); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("GetRange(%q, %d, %d) = %v, want ErrNotFound", key, r[0], r[1], err)
			}
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing key = %v, want nil", key, err)
		}
	}
	// A "directory" (a prefix of other keys) is not an object.
	if _, err := s.Stat(ctx, "dir"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(dir) = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "dir"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get(dir) = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "v/1/a", []byte("a"))
	put(t, s, "v/1/b", []byte("b"))
	if err := s.Delete(ctx, "v/1/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "v/1/a"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if _, err := s.Stat(ctx, "v/1/a"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "v/1/a"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if got := get(t, s, "v/1/b"); string(got) != "b" {
		t.Errorf("the sibling of a deleted object reads %q", got)
	}
	if got := keys(t, s, "v/"); !slices.Equal(got, []string{"v/1/b"}) {
		t.Errorf("List after Delete = %v, want [v/1/b]", got)
	}
	// The key can be written again once its last sibling is gone too.
	if err := s.Delete(ctx, "v/1/b"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "v/1", []byte("now an object"))
	if got := get(t, s, "v/1"); string(got) != "now an object" {
		t.Errorf("Get(v/1) = %q", got)
	}
}

func keys(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	list, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	out := []string{}
	for _, i := range list {
		out = append(out, i.Key)
	}
	return out
}

func testList(t *testing.T, s blob.Store) {
	objects := map[string]string{
		"videos/v1/source":    "hello, world",
		"videos/v1/seg/1.m4s": "s1",
		"videos/v1/seg/2.m4s": "s22",
		"videos/v2/source":    "x",
		"videos10/x":          "y",
		"other":               "z",
		"o":                   "",
	}
	for k, v := range objects {
		put(t, s, k, []byte(v))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"o", "other", "videos/v1/seg/1.m4s", "videos/v1/seg/2.m4s", "videos/v1/source", "videos/v2/source", "videos10/x"}},
		{"videos/", []string{"videos/v1/seg/1.m4s", "videos/v1/seg/2.m4s", "videos/v1/source", "videos/v2/source"}},
		{"videos", []string{"videos/v1/seg/1.m4s", "videos/v1/seg/2.m4s", "videos/v1/source", "videos/v2/source", "videos10/x"}},
		{"videos/v1/s", []string{"videos/v1/seg/1.m4s", "videos/v1/seg/2.m4s", "videos/v1/source"}},
		{"videos/v1/so", []string{"videos/v1/source"}},
		{"videos/v1/source", []string{"videos/v1/source"}},
		{"videos/v1/seg/", []string{"videos/v1/seg/1.m4s", "videos/v1/seg/2.m4s"}},
		{"o", []string{"o", "other"}},
		{"vid", []string{"videos/v1/seg/1.m4s", "videos/v1/seg/2.m4s", "videos/v1/source", "videos/v2/source", "videos10/x"}},
		{"nothing/here/", []string{}},
		{"videos/v3", []string{}},
		{"videos/v1/source/", []string{}},
	} {
		if got := keys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	list, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list {
		if i.Size != int64(len(objects[i.Key])) {
			t.Errorf("List: %s has size %d, want %d", i.Key, i.Size, len(objects[i.Key]))
		}
		if i.ModTime.IsZero() {
			t.Errorf("List: %s has no ModTime", i.Key)
		}
	}
}

// InvalidKeys is what every method refuses with ErrInvalidKey.
var InvalidKeys = []string{
	"", ".", "..", "../x", "a/../b", "a/..", "./a", "a/./b", "/abs", "/", "a//b", "a/", "//a",
	"a\x00b", "a\nb", "a\x7fb", "a\\b", "..\\x", strings.Repeat("a", blob.MaxKeyBytes+1), "\xff",
}

// InvalidPrefixes is what List refuses with ErrInvalidKey.
var InvalidPrefixes = []string{"../", "../x", "/abs", "/", "a//", "a//b", "a/../", "./", "a\x00", "a/b\x00c", "a\\", "\xff"}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, key := range InvalidKeys {
		if _, err := s.Put(ctx, key, strings.NewReader("pwned")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.GetRange(ctx, key, 1, 2); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("GetRange(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range InvalidPrefixes {
		if _, err := s.List(ctx, prefix); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Errorf("objects written under invalid keys: %v", got)
	}
}

// testOverwriteKeepsOpenReaders: a reader of the old object reads the old
// object to its end, whole, after a Put has replaced it.
func testOverwriteKeepsOpenReaders(t *testing.T, s blob.Store) {
	ctx := t.Context()
	oldB, newB := pattern(2, 4<<20), pattern(3, 3<<20)
	put(t, s, "seg", oldB)
	rc, err := s.Get(ctx, "seg")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	put(t, s, "seg", newB)
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading the old object after the overwrite: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, oldB) {
		t.Errorf("a reader opened before the overwrite read %d bytes that are not the old object (%d bytes)", len(got), len(oldB))
	}
	if got := get(t, s, "seg"); !bytes.Equal(got, newB) {
		t.Errorf("Get after the overwrite: %d bytes, not the new object", len(got))
	}
}

// failingReader gives n bytes of data, then an error.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'z'
	}
	f.n -= k
	return k, nil
}

func testFailedPut(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, size := range []int{0, 64 << 10, BigSize / 2} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			reset := errors.New("connection reset")
			put(t, s, "old", []byte("old"))
			if _, err := s.Put(ctx, "old", &failingReader{n: size, err: reset}); !errors.Is(err, reset) {
				t.Errorf("Put from a failing reader = %v, want its error", err)
			}
			if got := get(t, s, "old"); string(got) != "old" {
				t.Errorf("after a failed Put, Get = %q, want the old object", got)
			}
			if _, err := s.Put(ctx, "new/key", &failingReader{n: size, err: reset}); err == nil {
				t.Error("Put from a failing reader succeeded")
			}
			if _, err := s.Stat(ctx, "new/key"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Stat after a failed Put = %v, want ErrNotFound", err)
			}
			if got := keys(t, s, ""); !slices.Equal(got, []string{"old"}) {
				t.Errorf("List after failed Puts = %v, want [old]", got)
			}
		})
	}
}

// cancellingReader cancels its context after n bytes and goes on giving
// data, as a client upload would.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	k := len(p)
	if c.n > 0 {
		k = min(k, c.n)
	}
	for i := range p[:k] {
		p[i] = 'c'
	}
	c.n -= k
	return k, nil
}

func testCancelledPut(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "old", []byte("old"))
	for _, size := range []int{0, 64 << 10, BigSize / 2} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			for _, key := range []string{"old", "new"} {
				cctx, cancel := context.WithCancel(ctx)
				_, err := s.Put(cctx, key, &cancellingReader{n: size, cancel: cancel})
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Put(%s) whose context was cancelled = %v, want context.Canceled", key, err)
				}
			}
			if got := get(t, s, "old"); string(got) != "old" {
				t.Errorf("after a cancelled Put, Get = %q, want the old object", got)
			}
			if _, err := s.Stat(ctx, "new"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Stat after a cancelled Put = %v, want ErrNotFound", err)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "new", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a done context = %v, want context.Canceled", err)
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"old"}) {
		t.Errorf("List after cancelled Puts = %v, want [old]", got)
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, _ = s.Put(ctx, "a/c", bytes.NewReader(bytes.Repeat([]byte{byte('0' + i)}, 100_000)))
		})
	}
	wg.Wait()
	got := get(t, s, "a/c")
	if len(got) != 100_000 || bytes.Count(got, got[:1]) != 100_000 {
		t.Errorf("concurrent Puts mixed their bytes (len %d)", len(got))
	}
}
