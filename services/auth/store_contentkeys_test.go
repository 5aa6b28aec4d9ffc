package auth

import (
	"bytes"
	"github.com/streamgate/streamgate/internal/secretbox/secretboxtest"
	"sync"
	"testing"
)

func TestContentKeysMadeOnceAcrossInstances(t *testing.T) {
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			a, c := b.open(t)
			kek := secretboxtest.Keyring(t, 1)
			a.kek, c.kek = kek, kek
			ctx := t.Context()
			// Two instances asking at once get the same keys.
			var wg sync.WaitGroup
			got := make([][]contentKey, 8)
			for i := range got {
				s := a
				if i%2 == 1 {
					s = c
				}
				wg.Go(func() {
					keys, err := s.ensureContentKeys(ctx, "vid_1", contentKeyScopes, storeT0)
					if err != nil {
						t.Error(err)
					}
					got[i] = keys
				})
			}
			wg.Wait()
			for i := range got {
				if len(got[i]) != 2 || got[i][0] != got[0][0] || got[i][1] != got[0][1] {
					t.Fatalf("caller %d got %+v, caller 0 %+v", i, got[i], got[0])
				}
			}
			full, preview := got[0][0], got[0][1]
			if full.Scope != scopeFull || preview.Scope != scopePreview || full.Key.Key == preview.Key.Key || full.Key.ID == preview.Key.ID {
				t.Fatalf("keys %+v", got[0])
			}
			// Another video, other keys; asking for one scope gives that one.
			other, err := a.ensureContentKeys(ctx, "vid_2", []string{scopeFull}, storeT0)
			if err != nil || len(other) != 1 || other[0].Key == full.Key {
				t.Fatalf("vid_2: %+v %v", other, err)
			}
			if _, err := a.ensureContentKeys(ctx, "vid_2", []string{"everything"}, storeT0); err == nil {
				t.Error("an unknown scope was accepted")
			}
			// Deleting the video's keys forgets them for every instance.
			if n, err := c.deleteContentKeys(ctx, "vid_1"); err != nil || n != 2 {
				t.Fatalf("delete: %d %v", n, err)
			}
			if keys, err := a.contentKeys(ctx, "vid_1"); err != nil || len(keys) != 0 {
				t.Fatalf("after delete: %+v %v", keys, err)
			}
		})
	}
}

// At rest a content key is sealed under the KEK and bound to its row: the
// database alone does not hold it, a row copied onto another video does
// not open, and a KEK rotation reseals every key.
func TestContentKeysSealedAtRest(t *testing.T) {
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			ctx := t.Context()
			old := secretboxtest.Keyring(t, 1)
			s.kek = old
			keys, err := s.ensureContentKeys(ctx, "vid_1", contentKeyScopes, storeT0)
			if err != nil {
				t.Fatal(err)
			}
			var stored []byte
			if err := s.db.QueryRowContext(ctx, s.q(`SELECT key FROM content_keys WHERE video_id = ? AND scope = ?`), "vid_1", scopeFull).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(stored, keys[0].Key.Key[:]) || len(stored) <= 16 {
				t.Fatalf("the stored key is the key in clear: %x", stored)
			}
			// A row copied onto another video does not open there.
			if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO content_keys (video_id, scope, kid, key, created) SELECT ?, scope, kid, key, created FROM content_keys WHERE video_id = ? AND scope = ?`), "vid_evil", "vid_1", scopeFull); err != nil {
				t.Fatal(err)
			}
			if _, err := s.contentKeys(ctx, "vid_evil"); err == nil {
				t.Fatal("a key copied onto another video opened")
			}
			if _, err := s.deleteContentKeys(ctx, "vid_evil"); err != nil {
				t.Fatal(err)
			}
			// Without the KEK, nothing opens.
			s.kek = nil
			if _, err := s.contentKeys(ctx, "vid_1"); err == nil {
				t.Fatal("sealed keys opened without a KEK")
			}
			// A new KEK (the old one kept second) reseals everything.
			s.kek = secretboxtest.Keyring(t, 2, 1)
			n, err := s.sealContentKeys(ctx)
			if err != nil || n != 2 {
				t.Fatalf("resealed %d, %v; want 2", n, err)
			}
			if n, err := s.sealContentKeys(ctx); err != nil || n != 0 {
				t.Fatalf("second reseal: %d, %v", n, err)
			}
			s.kek = secretboxtest.Keyring(t, 2) // the old KEK dropped
			again, err := s.contentKeys(ctx, "vid_1")
			if err != nil || len(again) != 2 || again[0].Key != keys[0].Key || again[1].Key != keys[1].Key {
				t.Fatalf("after rotation: %+v %v", again, err)
			}
		})
	}
}

// Keys stored in clear (dev before it had a KEK) are sealed at the next
// start with one.
func TestClearContentKeysSealedLater(t *testing.T) {
	s, err := openSQLite(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, err := s.ensureContentKeys(t.Context(), "vid_1", []string{scopeFull}, storeT0)
	if err != nil {
		t.Fatal(err)
	}
	s.kek = secretboxtest.Keyring(t, 3)
	if n, err := s.sealContentKeys(t.Context()); err != nil || n != 1 {
		t.Fatalf("sealed %d, %v", n, err)
	}
	got, err := s.contentKeys(t.Context(), "vid_1")
	if err != nil || got[0].Key != keys[0].Key {
		t.Fatalf("%+v %v", got, err)
	}
}

// The preview a preview key encrypts is the longest any attempt used, on
// either instance, and goes with the keys.
func TestPreviewKeySeconds(t *testing.T) {
	for _, b := range storeBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			a, c := b.open(t)
			ctx := t.Context()
			if n, err := a.previewKeySeconds(ctx, "vid_1"); err != nil || n != 0 {
				t.Fatalf("before any: %d, %v", n, err)
			}
			for _, step := range []struct {
				s    *store
				secs uint32
				want uint32
			}{{a, 30, 30}, {c, 10, 30}, {a, 45, 45}} {
				if err := step.s.notePreviewKey(ctx, "vid_1", step.secs); err != nil {
					t.Fatal(err)
				}
				if n, err := c.previewKeySeconds(ctx, "vid_1"); err != nil || n != step.want {
					t.Fatalf("after noting %d: %d, %v; want %d", step.secs, n, err, step.want)
				}
			}
			if _, err := a.deleteContentKeys(ctx, "vid_1"); err != nil {
				t.Fatal(err)
			}
			if n, err := c.previewKeySeconds(ctx, "vid_1"); err != nil || n != 0 {
				t.Fatalf("after delete: %d, %v", n, err)
			}
		})
	}
}
