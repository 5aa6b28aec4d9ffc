package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/secretbox"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secretbox.KeySize) }

func TestSealOpen(t *testing.T) {
	k, err := secretbox.New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the signing key")
	sealed := k.Seal(secret, []byte("row-1"))
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value holds the plaintext")
	}
	if !secretbox.IsSealed(sealed) || !k.SealedWithCurrent(sealed) {
		t.Fatal("sealed value not recognized")
	}
	got, err := k.Open(sealed, []byte("row-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Moved to another row: the context differs.
	if _, err := k.Open(sealed, []byte("row-2")); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open(other row) error = %v, want ErrOpen", err)
	}
	// Altered: any byte.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := k.Open(bad, []byte("row-1")); err == nil {
			t.Fatalf("Open with byte %d flipped succeeded", i)
		}
	}
	// Two seals of one value differ (random nonce).
	if bytes.Equal(sealed, k.Seal(secret, []byte("row-1"))) {
		t.Error("two seals are equal")
	}
	if _, err := k.Open(secret, nil); !errors.Is(err, secretbox.ErrFormat) {
		t.Errorf("Open(clear) error = %v, want ErrFormat", err)
	}
}

func TestWrongKEK(t *testing.T) {
	a, _ := secretbox.New(key(1))
	b, _ := secretbox.New(key(2))
	_, err := b.Open(a.Seal([]byte("x"), nil), nil)
	if !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), a.CurrentID()) {
		t.Errorf("Open under a wrong KEK: %v, want ErrUnknownKey naming %s", err, a.CurrentID())
	}
}

func TestRotation(t *testing.T) {
	old, _ := secretbox.New(key(1))
	sealedOld := old.SealString("whsec_x", []byte("whk_1"))
	rotated, err := secretbox.New(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.OpenString(sealedOld, []byte("whk_1")); err != nil || got != "whsec_x" {
		t.Fatalf("old value under the rotated keyring: %q, %v", got, err)
	}
	if rotated.SealedStringWithCurrent(sealedOld) {
		t.Error("an old value counts as sealed with the current KEK")
	}
	sealedNew := rotated.SealString("whsec_y", []byte("whk_2"))
	if !rotated.SealedStringWithCurrent(sealedNew) {
		t.Error("a new value is not sealed with the current KEK")
	}
	if _, err := old.OpenString(sealedNew, []byte("whk_2")); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Errorf("new value under the old KEK alone: %v, want ErrUnknownKey", err)
	}
	if _, err := secretbox.New(key(1), key(1)); err == nil {
		t.Error("a KEK listed twice was accepted")
	}
}

func TestParse(t *testing.T) {
	k1, k2 := key(1), key(2)
	text := "# current\n" + base64.StdEncoding.EncodeToString(k1) + "\n\n# previous\n" + base64.RawURLEncoding.EncodeToString(k2) + "\n"
	k, err := secretbox.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if ids := k.IDs(); len(ids) != 2 || ids[0] != secretbox.KeyID(k1) || ids[1] != secretbox.KeyID(k2) {
		t.Errorf("IDs = %v", ids)
	}
	raw, err := secretbox.Parse(k1)
	if err != nil || raw.CurrentID() != secretbox.KeyID(k1) {
		t.Errorf("raw key: %v", err)
	}
	for _, bad := range []string{"", "# only a comment\n", "bm90IDMyIGJ5dGVz\n", "!!!\n"} {
		if _, err := secretbox.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if k, err := secretbox.FromEnv(base64.StdEncoding.EncodeToString(k2) + "," + base64.StdEncoding.EncodeToString(k1)); err != nil || k.CurrentID() != secretbox.KeyID(k2) {
		t.Errorf("FromEnv: %v", err)
	}
}

func TestLoadFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, secretbox.GenerateFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secretbox.LoadFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable KEK file: %v, want a refusal saying chmod 600", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secretbox.LoadFile(path); err != nil {
		t.Errorf("0600 KEK file: %v", err)
	}
}
