// Package video owns a video's identity: the id metadata issues, the one
// rule every service checks an id against, and the lookup of a video in
// metadata that the services reading videos share.
package video

import (
	"errors"
	"fmt"
	"strings"

	"github.com/oklog/ulid/v2"
)

const (
	// IDPrefix starts every video id.
	IDPrefix = "vid_"
	// MaxIDLen is the longest video id, prefix included, in bytes.
	MaxIDLen = 64
)

// ErrInvalidID is wrapped by CheckID's errors.
var ErrInvalidID = errors.New("invalid video id")

// NewID returns a fresh video id: IDPrefix and a ULID (30 characters).
func NewID() string { return IDPrefix + ulid.Make().String() }

// CheckID accepts IDPrefix followed by 1 to 60 letters (A-Z, a-z), digits,
// '_' or '-'. Every id NewID makes passes, and an id that passes is safe as
// one path component of a blob key or a URL: it has no '/', '.', '%', NUL,
// space or non-ASCII byte. The error wraps ErrInvalidID.
func CheckID(id string) error {
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %d bytes, want at most %d", ErrInvalidID, len(id), MaxIDLen)
	}
	ok := len(id) > len(IDPrefix) && strings.HasPrefix(id, IDPrefix)
	for i := len(IDPrefix); ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w %q: want %q followed by 1 to %d of A-Z, a-z, 0-9, '_' and '-'",
			ErrInvalidID, id, IDPrefix, MaxIDLen-len(IDPrefix))
	}
	return nil
}
