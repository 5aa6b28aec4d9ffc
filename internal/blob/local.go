package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// tempPrefix starts the name of a file being written by Put. Such files are
// never listed, and keys with a segment starting with it are refused.
const tempPrefix = ".blobtmp-"

// Local is a Store in a directory. Every operation goes through an os.Root,
// so no key, and no symlink planted inside the directory, can reach a file
// outside it.
type Local struct {
	dir  string // absolute, symlinks resolved
	root *os.Root
}

var _ Store = (*Local)(nil)

// NewLocal opens (creating it if needed) the directory dir as a store.
// Close releases it.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("blob: empty directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Local{dir: real, root: root}, nil
}

// Close releases the directory.
func (l *Local) Close() error { return l.root.Close() }

// Dir is the store's directory, absolute with symlinks resolved.
func (l *Local) Dir() string { return l.dir }

func (l *Local) check(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	for _, seg := range strings.Split(key, "/") {
		if strings.HasPrefix(seg, tempPrefix) {
			return fmt.Errorf("%w: %q uses the reserved prefix %q", ErrInvalidKey, key, tempPrefix)
		}
	}
	return nil
}

// mapErr turns "no such file" into ErrNotFound and an attempt to leave
// the root into ErrInvalidKey.
func mapErr(key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case isEscape(err):
		return fmt.Errorf("%w: %q leads outside the store", ErrInvalidKey, key)
	default:
		return fmt.Errorf("blob: %s: %w", key, err)
	}
}

func isEscape(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes from parent") {
		return true
	}
	var le *os.LinkError
	return errors.As(err, &le) && strings.Contains(le.Err.Error(), "escapes from parent")
}

// Put writes r to a temporary file next to the object, syncs it and renames
// it over the key, so readers see the old object or the new one, whole.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := l.check(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	dir := path.Dir(key)
	if dir != "." {
		if err := l.root.MkdirAll(dir, 0o750); err != nil {
			return 0, mapErr(key, err)
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, mapErr(key, err)
	}
	n, err := io.Copy(f, ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = mapErr(key, l.root.Rename(tmp, key))
	}
	if err != nil {
		_ = l.root.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// Get opens the object.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return l.GetRange(ctx, key, 0, -1)
}

// GetRange opens n bytes from off (n < 0: to the end).
func (l *Local) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := l.check(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("blob: negative offset %d", off)
	}
	f, err := l.root.Open(key)
	if err != nil {
		return nil, mapErr(key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr(key, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if off == 0 && n < 0 {
		return f, nil
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, mapErr(key, err)
	}
	if n < 0 {
		return f, nil
	}
	return readCloser{Reader: io.LimitReader(f, n), Closer: f}, nil
}

// Stat describes the object.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := l.check(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	st, err := l.root.Stat(key)
	if err != nil {
		return Info{}, mapErr(key, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the object and then any directories it leaves empty.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := l.check(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := l.root.Lstat(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return mapErr(key, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr(key, err)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if l.root.Remove(dir) != nil { // not empty, or gone: stop
			break
		}
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key.
// Symlinks are not followed and not listed.
func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	// Walk only the deepest directory the prefix names entirely.
	start := "."
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		start = prefix[:i]
	}
	var out []Info
	err := fs.WalkDir(l.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == start {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		if d.IsDir() {
			if p != "." && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while listing
		}
		out = append(out, Info{Key: p, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Path returns the absolute file name of the object, for tools that need a
// file (ffprobe, sendfile). It refuses a key whose file, after resolving
// symlinks, lies outside the store.
func (l *Local) Path(ctx context.Context, key string) (string, error) {
	if _, err := l.Stat(ctx, key); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(l.dir, filepath.FromSlash(key)))
	if err != nil {
		return "", mapErr(key, err)
	}
	if rel, err := filepath.Rel(l.dir, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q leads outside the store", ErrInvalidKey, key)
	}
	return real, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
