// Package operatortokens holds the operator credentials the gateway edge
// accepts: several named tokens, so that each operator (or each tool) has
// its own, the access log names which one was used, and one can be
// revoked without the others.
//
// Tokens come from a file (lines "name:token", # comments; only its owner
// may read it) or from the environment: STREAMGATE_OPERATOR_TOKENS
// ("name:token,name2:token2") or, as before, STREAMGATE_OPERATOR_TOKEN (one
// token, named "default"). Never from a command-line flag, which ps shows.
package operatortokens

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamgate/streamgate/internal/secretfile"
)

// Environment variables tokens are read from.
const (
	EnvTokens = "STREAMGATE_OPERATOR_TOKENS"
	EnvToken  = "STREAMGATE_OPERATOR_TOKEN"
	// DefaultName names the one token of EnvToken.
	DefaultName = "default"
	// MinTokenLength is the shortest token accepted.
	MinTokenLength = 16
)

// Matcher tells which named token a presented bearer is.
type Matcher interface {
	// Match returns the name of the token equal to presented. It compares
	// against every token in constant time whatever the outcome.
	Match(presented string) (name string, ok bool)
}

// Set is a fixed set of named tokens.
type Set struct {
	names  []string
	hashes [][sha256.Size]byte
}

// New returns the set of tokens, keyed by name. Names are 1 to 64 of
// [A-Za-z0-9._-]; tokens at least MinTokenLength characters with no
// whitespace, and no two alike.
func New(tokens map[string]string) (*Set, error) {
	s := &Set{}
	seen := map[[sha256.Size]byte]string{}
	for name, tok := range tokens {
		if err := checkName(name); err != nil {
			return nil, err
		}
		if len(tok) < MinTokenLength {
			return nil, fmt.Errorf("operator token %q is %d characters; want at least %d (e.g. head -c24 /dev/urandom | base64)", name, len(tok), MinTokenLength)
		}
		if strings.ContainsAny(tok, " \t\r\n,") {
			return nil, fmt.Errorf("operator token %q holds whitespace or a comma", name)
		}
		h := sha256.Sum256([]byte(tok))
		if other, ok := seen[h]; ok {
			return nil, fmt.Errorf("operator tokens %q and %q are the same token", other, name)
		}
		seen[h] = name
		s.names = append(s.names, name)
		s.hashes = append(s.hashes, h)
	}
	return s, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("operator token name %q: want 1 to 64 characters", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("operator token name %q: want letters, digits, '.', '_' or '-'", name)
		}
	}
	return nil
}

// Single is the set of one token named DefaultName (or nil for an empty
// token: no operator).
func Single(token string) (*Set, error) {
	if token == "" {
		return nil, nil
	}
	return New(map[string]string{DefaultName: token})
}

// Len is the number of tokens.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Names lists the tokens' names.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.names...)
}

// Match compares the presented token's SHA-256 with every token's (so
// neither the length nor the content of any token shows in the time
// taken), always all of them, and selects the match without branching.
func (s *Set) Match(presented string) (string, bool) {
	if s == nil || len(s.hashes) == 0 {
		return "", false
	}
	h := sha256.Sum256([]byte(presented))
	idx, found := 0, 0
	for i := range s.hashes {
		eq := subtle.ConstantTimeCompare(h[:], s.hashes[i][:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found == 0 {
		return "", false
	}
	return s.names[idx], true
}

// Parse reads a tokens file: one "name:token" per line; blank lines and
// lines starting with # are skipped.
func Parse(data []byte) (*Set, error) {
	tokens := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, tok, ok := strings.Cut(line, ":")
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		if !ok || name == "" || tok == "" {
			return nil, fmt.Errorf("line %d: want name:token", n+1)
		}
		if _, dup := tokens[name]; dup {
			return nil, fmt.Errorf("line %d: the name %q is used twice", n+1, name)
		}
		tokens[name] = tok
	}
	s, err := New(tokens)
	if err != nil {
		return nil, err
	}
	if s.Len() == 0 {
		return nil, errors.New("no token in it (want lines name:token)")
	}
	return s, nil
}

// ParseList reads STREAMGATE_OPERATOR_TOKENS: "name:token,name2:token2".
func ParseList(value string) (*Set, error) {
	return Parse([]byte(strings.ReplaceAll(value, ",", "\n")))
}

// LoadFile reads a tokens file, refusing one others may read.
func LoadFile(path string) (*Set, error) {
	data, err := secretfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("operator tokens file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("operator tokens file %s: %w", path, err)
	}
	return s, nil
}

// FromEnv reads the tokens of the environment (getenv, os.Getenv when
// nil): STREAMGATE_OPERATOR_TOKENS, else STREAMGATE_OPERATOR_TOKEN as one
// token named "default"; nil when neither is set.
func FromEnv(getenv func(string) string) (*Set, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv(EnvTokens); v != "" {
		s, err := ParseList(v)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", EnvTokens, err)
		}
		return s, nil
	}
	s, err := Single(getenv(EnvToken))
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", EnvToken, err)
	}
	return s, nil
}

// File is the tokens of a file, read again when it changes (Reload, or
// Watch polling its modification time and size), so that a token is
// added or revoked without a restart. A file that becomes unreadable or
// invalid leaves the tokens as they were, and the error is logged.
type File struct {
	path string
	cur  atomic.Pointer[Set]

	mu    sync.Mutex
	mtime time.Time
	size  int64
}

// OpenFile reads the tokens file at path.
func OpenFile(path string) (*File, error) {
	f := &File{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Set is the tokens now in force.
func (f *File) Set() *Set { return f.cur.Load() }

// Match matches against the tokens now in force.
func (f *File) Match(presented string) (string, bool) { return f.cur.Load().Match(presented) }

// Reload reads the file again; on error the tokens stay as they were.
func (f *File) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("operator tokens file: %w", err)
	}
	s, err := LoadFile(f.path)
	if err != nil {
		return err
	}
	f.cur.Store(s)
	f.mtime, f.size = fi.ModTime(), fi.Size()
	return nil
}

// changed reports whether the file's modification time or size differs
// from those of the last successful read.
func (f *File) changed() bool {
	fi, err := os.Stat(f.path)
	if err != nil {
		return true // reported by Reload
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !fi.ModTime().Equal(f.mtime) || fi.Size() != f.size
}

// Watch reloads the file whenever it changed, checking every interval,
// until ctx ends. Changes and failures are logged (names only, never a
// token).
func (f *File) Watch(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !f.changed() {
			continue
		}
		if err := f.Reload(); err != nil {
			if !failing {
				logger.Warn("operator tokens file changed but cannot be used; the previous tokens stay in force", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		logger.Info("operator tokens reloaded", "file", f.path, "names", strings.Join(f.Set().Names(), ","))
	}
}
