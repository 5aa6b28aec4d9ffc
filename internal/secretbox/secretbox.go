// Package secretbox encrypts secrets at rest (auth's signing keys, the
// worker's webhook secrets) with AES-256-GCM under a key-encryption key
// (KEK) the operator holds outside the database.
//
// A sealed value is, in binary:
//
//	"SGBX" | version 0x01 | key id (4 bytes) | nonce (12 bytes) | ciphertext and GCM tag
//
// and in text (for values stored in JSON) "sgbox1:" followed by that
// binary form in unpadded base64url. The key id is the first 4 bytes of a
// SHA-256 of the KEK, so a value names the KEK that sealed it without the
// operator naming keys. GCM authenticates the header and a context the
// caller passes (what the secret protects: a key id, a webhook id), so a
// sealed value copied to another row, or under another header, does not
// open.
//
// A Keyring holds the current KEK, which seals, and previous ones, which
// only open: rotating the KEK is putting the new one first and keeping
// the old ones until every value was sealed again under the new one.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/streamgate/streamgate/internal/secretfile"
)

// KeySize is the size of a KEK: AES-256.
const KeySize = 32

const (
	magic      = "SGBX"
	version    = 1
	idSize     = 4
	headerSize = len(magic) + 1 + idSize
	nonceSize  = 12
	// Overhead is how many bytes sealing adds to a plaintext.
	Overhead = headerSize + nonceSize + 16
	// TextPrefix starts the text form of a sealed value.
	TextPrefix = "sgbox1:"
)

var (
	// ErrUnknownKey: the value was sealed under a KEK the keyring does
	// not hold (a wrong KEK, or a previous one dropped too early).
	ErrUnknownKey = errors.New("secretbox: sealed under a key-encryption key this keyring does not hold")
	// ErrOpen: the value does not authenticate under its KEK: altered,
	// or moved from the row it was sealed for.
	ErrOpen = errors.New("secretbox: sealed value does not authenticate (altered, or moved from another record)")
	// ErrFormat: the value is not a sealed value of a known version.
	ErrFormat = errors.New("secretbox: not a sealed value")
)

type kek struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Keyring holds KEKs: the first seals, all open.
type Keyring struct {
	keys []kek
}

// KeyID is the id a KEK's values carry, in hex.
func KeyID(key []byte) string {
	id := keyID(key)
	return hex.EncodeToString(id[:])
}

func keyID(key []byte) (id [idSize]byte) {
	h := sha256.New()
	h.Write([]byte("streamgate secretbox key id\x00"))
	h.Write(key)
	copy(id[:], h.Sum(nil))
	return id
}

// New returns a keyring whose current KEK is keys[0], the others previous
// ones. Every key is KeySize bytes, and no two are alike.
func New(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key-encryption key")
	}
	k := &Keyring{}
	seen := map[[idSize]byte]bool{}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("secretbox: key-encryption key %d has %d bytes, want %d", i+1, len(key), KeySize)
		}
		id := keyID(key)
		if seen[id] {
			return nil, fmt.Errorf("secretbox: key-encryption key %d is listed twice", i+1)
		}
		seen[id] = true
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, kek{id: id, aead: aead})
	}
	return k, nil
}

// Parse reads KEKs as a KEK file holds them: either exactly KeySize raw
// bytes, or text with one base64 (standard or URL alphabet, padded or
// not) KEK per line, the current one first, previous ones after it;
// blank lines and lines starting with # are skipped.
func Parse(data []byte) (*Keyring, error) {
	if len(data) == KeySize && !isBase64Line(data) {
		return New(data)
	}
	var keys [][]byte
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key-encryption key in it")
	}
	return New(keys...)
}

func isBase64Line(b []byte) bool {
	for _, c := range bytes.TrimSpace(b) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("+/-_=", c) >= 0) {
			return false
		}
	}
	return true
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// HowToMake is the shell line that makes a KEK file.
const HowToMake = "head -c32 /dev/urandom | base64 > kek && chmod 600 kek"

// LoadFile reads a KEK file (Parse), refusing one others may read.
func LoadFile(path string) (*Keyring, error) {
	data, err := secretfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w (make one with: %s)", path, err, HowToMake)
	}
	return k, nil
}

// FromEnv reads KEKs from an environment variable's value: base64 KEKs
// separated by commas, the current one first.
func FromEnv(value string) (*Keyring, error) {
	var keys [][]byte
	for i, part := range strings.Split(value, ",") {
		key, err := decodeKey(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return New(keys...)
}

// GenerateFile returns the contents of a new KEK file: one random KEK in
// base64.
func GenerateFile() []byte {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return []byte(base64.StdEncoding.EncodeToString(key) + "\n")
}

// CurrentID is the id of the KEK that seals, in hex.
func (k *Keyring) CurrentID() string { return hex.EncodeToString(k.keys[0].id[:]) }

// IDs lists the ids of every KEK, the current one first.
func (k *Keyring) IDs() []string {
	out := make([]string, len(k.keys))
	for i, key := range k.keys {
		out[i] = hex.EncodeToString(key.id[:])
	}
	return out
}

// Seal encrypts plaintext under the current KEK, bound to context.
func (k *Keyring) Seal(plaintext, context []byte) []byte {
	cur := k.keys[0]
	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	copy(out, magic)
	out[len(magic)] = version
	copy(out[len(magic)+1:], cur.id[:])
	_, _ = rand.Read(out[headerSize:])
	return cur.aead.Seal(out, out[headerSize:], plaintext, ad(out[:headerSize], context))
}

func ad(header, context []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(context)), header...), context...)
}

// IsSealed reports whether b has the form of a sealed value.
func IsSealed(b []byte) bool {
	return len(b) >= Overhead && string(b[:len(magic)]) == magic && b[len(magic)] == version
}

// SealedWithCurrent reports whether b was sealed under the current KEK:
// when not, the value is to be sealed again.
func (k *Keyring) SealedWithCurrent(b []byte) bool {
	return IsSealed(b) && bytes.Equal(b[len(magic)+1:headerSize], k.keys[0].id[:])
}

// Open decrypts a value Seal returned for the same context, under
// whichever KEK of the keyring sealed it.
func (k *Keyring) Open(sealed, context []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, ErrFormat
	}
	id := sealed[len(magic)+1 : headerSize]
	for _, key := range k.keys {
		if !bytes.Equal(key.id[:], id) {
			continue
		}
		pt, err := key.aead.Open(nil, sealed[headerSize:headerSize+nonceSize], sealed[headerSize+nonceSize:], ad(sealed[:headerSize], context))
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, fmt.Errorf("%w (value's key id %s; keyring holds %s)", ErrUnknownKey, hex.EncodeToString(id), strings.Join(k.IDs(), ", "))
}

// SealString is Seal in text form: TextPrefix and base64url.
func (k *Keyring) SealString(plaintext string, context []byte) string {
	return TextPrefix + base64.RawURLEncoding.EncodeToString(k.Seal([]byte(plaintext), context))
}

// IsSealedString reports whether s is in the text form of a sealed value.
func IsSealedString(s string) bool { return strings.HasPrefix(s, TextPrefix) }

// SealedStringWithCurrent is SealedWithCurrent for the text form.
func (k *Keyring) SealedStringWithCurrent(s string) bool {
	b, err := decodeText(s)
	return err == nil && k.SealedWithCurrent(b)
}

// OpenString is Open for the text form.
func (k *Keyring) OpenString(s string, context []byte) (string, error) {
	b, err := decodeText(s)
	if err != nil {
		return "", err
	}
	pt, err := k.Open(b, context)
	return string(pt), err
}

func decodeText(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, TextPrefix)
	if !ok {
		return nil, ErrFormat
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, ErrFormat
	}
	return b, nil
}
