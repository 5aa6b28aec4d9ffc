package auth

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/internal/secretbox/secretboxtest"
)

// storedBytes is what the database holds for a key.
func storedBytes(t *testing.T, s *store, kid string) []byte {
	t.Helper()
	var b []byte
	if err := s.db.QueryRowContext(t.Context(), s.q(`SELECT private_key FROM signing_keys WHERE kid = ?`), kid).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSigningKeysSealedAtRest: with a KEK, neither the private key nor
// its seed is in the database, the key reads back whole, and a sealed key
// copied into another key's row does not open.
func TestSigningKeysSealedAtRest(t *testing.T) {
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, other := b.open(t)
			s.kek, other.kek = secretboxtest.Keyring(t, 1), secretboxtest.Keyring(t, 1)
			ctx := t.Context()
			k1, k2 := testKey(t, "k1", storeT0), testKey(t, "k2", storeT0.Add(time.Hour))
			if _, err := s.addKey(ctx, k1, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.addKey(ctx, k2, "k1"); err != nil {
				t.Fatal(err)
			}
			raw1 := storedBytes(t, s, "k1")
			if bytes.Contains(raw1, k1.Private.Seed()) || bytes.Contains(raw1, k1.Private) || !secretbox.IsSealed(raw1) {
				t.Fatalf("stored signing key is not sealed: %x", raw1)
			}
			keys, err := other.keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || !keys[0].Private.Equal(k1.Private) || !keys[1].Private.Equal(k2.Private) {
				t.Fatal("sealed keys do not read back")
			}
			// k1's sealed bytes moved into k2's row.
			if _, err := s.db.ExecContext(ctx, s.q(`UPDATE signing_keys SET private_key = ? WHERE kid = ?`), raw1, "k2"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.keys(ctx); !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("keys() with a ciphertext moved to another row: %v, want ErrOpen", err)
			}
		})
	}
}

func kekService(t *testing.T, e *env, kek *secretbox.Keyring, mutate ...func(*Config)) (*Service, error) {
	cfg := e.config(append(mutate, func(c *Config) { c.KEK = kek })...)
	svc, err := New(cfg, e.wallets, e.access, e.videos, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Cleanup(func() { svc.Close() })
	}
	return svc, err
}

// TestKEKAtStart: keys stored in clear are sealed at the next start with a
// KEK; a wrong KEK, or none, then fails the start with a clear error
// rather than serving garbage keys.
func TestKEKAtStart(t *testing.T) {
	e := newEnv(t) // no KEK: the first key is stored in clear
	signer, _ := e.svc.keys.signer()
	if raw := storedBytes(t, e.svc.store, signer.ID); !bytes.Equal(raw, signer.Private) {
		t.Fatal("without a KEK the key is not stored as before")
	}
	e.svc.Close()

	svc, err := kekService(t, e, secretboxtest.Keyring(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	raw := storedBytes(t, svc.store, signer.ID)
	if !secretboxtest.Keyring(t, 1).SealedWithCurrent(raw) || bytes.Contains(raw, signer.Private.Seed()) {
		t.Fatal("the clear key was not sealed at start")
	}
	if got, _ := svc.keys.signer(); !got.Private.Equal(signer.Private) {
		t.Fatal("the sealed key is not the same key")
	}
	svc.Close()

	_, err = kekService(t, e, secretboxtest.Keyring(t, 2))
	if !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), "cannot be decrypted") {
		t.Errorf("start with a wrong KEK: %v, want a clear refusal", err)
	}
	_, err = kekService(t, e, nil)
	if err == nil || !strings.Contains(err.Error(), "no key-encryption key") {
		t.Errorf("start without the KEK: %v, want a clear refusal", err)
	}
}

// TestKEKRotation: with the new KEK first and the previous one after it,
// the keys sealed under the previous one open, are sealed again under the
// new one at start, and new keys are sealed under the new one; the
// previous KEK can then be dropped.
func TestKEKRotation(t *testing.T) {
	hourly := func(c *Config) { c.KeyRotation = time.Hour; c.JWKSMaxAge = time.Minute }
	e := newEnv(t, hourly, func(c *Config) { c.KEK = secretboxtest.Keyring(t, 1) })
	first, _ := e.svc.keys.signer()
	e.svc.Close()

	rotated := secretboxtest.Keyring(t, 2, 1)
	svc, err := kekService(t, e, rotated, hourly)
	if err != nil {
		t.Fatalf("start with the rotated KEK: %v", err)
	}
	if got, _ := svc.keys.signer(); !got.Private.Equal(first.Private) {
		t.Fatal("the key sealed under the previous KEK does not open")
	}
	if !rotated.SealedWithCurrent(storedBytes(t, svc.store, first.ID)) {
		t.Fatal("the key was not sealed again under the new KEK at start")
	}
	// A rotation of the signing key: the new one is sealed under the new KEK.
	e.clock.Add(2 * time.Hour)
	if _, err := svc.keys.ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	next, _ := svc.keys.signer()
	if next.ID == first.ID {
		t.Fatal("no new signing key")
	}
	if raw := storedBytes(t, svc.store, next.ID); !rotated.SealedWithCurrent(raw) {
		t.Fatal("a new signing key is not sealed under the new KEK")
	}
	svc.Close()

	// The previous KEK dropped: everything opens under the new one alone.
	svc, err = kekService(t, e, secretboxtest.Keyring(t, 2), hourly)
	if err != nil {
		t.Fatalf("start with the new KEK alone: %v", err)
	}
	if got, _ := svc.keys.signer(); !got.Private.Equal(next.Private) {
		t.Fatal("wrong signer after dropping the previous KEK")
	}
}
