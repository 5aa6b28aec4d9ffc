// Package blob defines the store for media bytes shared by upload,
// transcoder and streaming. It is shaped like S3: flat keys made of
// slash-separated segments, whole-object writes, streaming and ranged reads.
// Local (a directory) is the backend for one machine; S3 (any S3-compatible
// service) lets several machines share the media. Open picks one from a URL.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned (wrapped) for a key that holds no object.
var ErrNotFound = errors.New("blob: object not found")

// ErrInvalidKey is returned (wrapped) for a key that is not a clean
// relative path; see ValidateKey.
var ErrInvalidKey = errors.New("blob: invalid key")

// MaxKeyBytes is the longest key accepted, as in S3.
const MaxKeyBytes = 1024

// Info describes one stored object.
type Info struct {
	// Key is the object's key.
	Key string
	// Size in bytes.
	Size int64
	// ModTime is when the object was last written.
	ModTime time.Time
}

// Store holds objects by key. Implementations are safe for concurrent use.
// A reader sees either a whole previous object or a whole new one, never a
// partial write.
type Store interface {
	// Put stores the bytes read from r under key, replacing any object
	// there, and returns the number of bytes stored. The object becomes
	// visible only when r is read to its end without error.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get opens the object for reading; the caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange opens n bytes of the object starting at off; n < 0 means
	// to the end. A range past the end is cut at the end.
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List returns every object whose key starts with prefix, sorted by
	// key. The prefix is a plain string prefix, as in S3.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// ValidateKey reports whether key is a clean relative path: non-empty, at
// most MaxKeyBytes of valid UTF-8, slash-separated segments none of which is
// empty, "." or "..", with no backslash, NUL or other control character,
// and not starting with a slash.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyBytes)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	for _, r := range key {
		switch {
		case r == '\\':
			return fmt.Errorf("%w: %q contains a backslash", ErrInvalidKey, key)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: %q contains a control character", ErrInvalidKey, key)
		}
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: %q is absolute", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// ValidatePrefix reports whether prefix may be listed: empty, or a string
// whose part up to its last slash is a valid key (see ValidateKey) and whose
// rest holds no backslash or control character. The prefix need not end on
// a slash boundary ("videos/v1/s" lists "videos/v1/source").
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q is absolute", ErrInvalidKey, prefix)
	}
	last := prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		if err := ValidateKey(prefix[:i]); err != nil {
			return fmt.Errorf("%w: prefix %q", ErrInvalidKey, prefix)
		}
		last = prefix[i+1:]
	}
	// The last part is a string prefix of a segment: "." and ".." are
	// fine there (".." matches "..x"), nothing else that a key refuses.
	if last != "" && last != "." && last != ".." {
		if err := ValidateKey(last); err != nil {
			return fmt.Errorf("%w: prefix %q", ErrInvalidKey, prefix)
		}
	}
	return nil
}
