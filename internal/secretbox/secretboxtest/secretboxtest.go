// Package secretboxtest gives tests key-encryption keys that are easy to
// tell apart: key b is secretbox.KeySize bytes of b.
package secretboxtest

import (
	"bytes"
	"testing"

	"github.com/streamgate/streamgate/internal/secretbox"
)

// Keyring returns a keyring of the keys named by keys, the first current,
// the rest kept for opening (Keyring(t, 2, 1) is key 1 rotated to key 2).
func Keyring(t testing.TB, keys ...byte) *secretbox.Keyring {
	t.Helper()
	var raw [][]byte
	for _, b := range keys {
		raw = append(raw, bytes.Repeat([]byte{b}, secretbox.KeySize))
	}
	k, err := secretbox.New(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
