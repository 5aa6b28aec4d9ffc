package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/secretbox/secretboxtest"
)

func keySet(videoID string, scopes ...string) []contentKey {
	var out []contentKey
	for _, s := range scopes {
		out = append(out, contentKey{VideoID: videoID, Scope: s, Key: cenc.NewKey()})
	}
	return out
}

func TestContentKeyCache(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	c := newContentKeyCache(clk.Now, time.Minute, 2)
	full := keySet("vid_a", scopeFull, scopePreview)

	_, gen, ok := c.get("vid_a")
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.put("vid_a", full, gen)
	if got, _, ok := c.get("vid_a"); !ok || len(got) != 2 || got[0].Key != full[0].Key {
		t.Fatalf("get after put = %v %v, want the two keys", got, ok)
	}

	t.Run("expires", func(t *testing.T) {
		clk.Add(time.Minute)
		if _, _, ok := c.get("vid_a"); ok {
			t.Error("hit after the TTL")
		}
	})
	t.Run("only whole sets", func(t *testing.T) {
		for name, keys := range map[string][]contentKey{"none": nil, "full only": keySet("vid_p", scopeFull)} {
			_, gen, _ := c.get("vid_p")
			c.put("vid_p", keys, gen)
			if _, _, ok := c.get("vid_p"); ok {
				t.Errorf("%s: cached", name)
			}
		}
	})
	t.Run("evict on delete", func(t *testing.T) {
		_, gen, _ := c.get("vid_d")
		c.put("vid_d", keySet("vid_d", scopeFull, scopePreview), gen)
		c.evict("vid_d")
		if _, _, ok := c.get("vid_d"); ok {
			t.Error("hit after evict")
		}
	})
	t.Run("a read from before a delete does not fill", func(t *testing.T) {
		_, gen, _ := c.get("vid_r")
		c.evict("vid_r") // the delete lands while the read is in flight
		c.put("vid_r", keySet("vid_r", scopeFull, scopePreview), gen)
		if _, _, ok := c.get("vid_r"); ok {
			t.Error("keys read before the delete were cached")
		}
	})
	t.Run("bounded", func(t *testing.T) {
		for _, id := range []string{"vid_1", "vid_2", "vid_3", "vid_4"} {
			_, gen, _ := c.get(id)
			c.put(id, keySet(id, scopeFull, scopePreview), gen)
		}
		if n := len(c.m); n != 2 {
			t.Errorf("%d entries, want at most 2", n)
		}
		if _, _, ok := c.get("vid_4"); !ok {
			t.Error("the newest entry was dropped")
		}
	})
}

// Keys come from the cache once read, but the decision does not: every
// request asks the access checker, and fails closed with it; a delete
// evicts at once.
func TestReleaseContentKeysCache(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KEK = secretboxtest.Keyring(t, 1) })
	holder := newWallet(t)
	e.access.allowed[holder.addr] = true
	const id = "vid_01J0000000000000000000000K"
	e.videos.videos[id] = readyVideo(id, nftPolicy)
	made, err := e.svc.EnsureContentKeys(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	release := func() (*authv1.ReleaseContentKeysResponse, error) {
		res, err := e.client.ReleaseContentKeys(t.Context(), connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: id, Address: holder.addr.Hex()}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	if _, err := release(); err != nil {
		t.Fatal(err)
	}
	// The stored keys become unreadable: only the cache can answer now.
	if _, err := e.svc.store.db.ExecContext(t.Context(), `UPDATE content_keys SET key = ?`, []byte(strings.Repeat("x", 60))); err != nil {
		t.Fatal(err)
	}
	e.access.mu.Lock()
	calls := e.access.calls
	e.access.mu.Unlock()
	res, err := release()
	if err != nil {
		t.Fatalf("release with the keys cached: %v", err)
	}
	if len(res.GetKeys()) != 2 || string(res.GetKeys()[0].GetKey()) != string(made[0].GetKey()) {
		t.Errorf("released %v, want the keys made", res.GetKeys())
	}
	e.access.mu.Lock()
	if e.access.calls != calls+1 {
		t.Errorf("access checker asked %d times for one release, want 1", e.access.calls-calls)
	}
	// No longer a holder: nothing, keys cached or not.
	e.access.allowed[holder.addr] = false
	e.access.mu.Unlock()
	if _, err := release(); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("former holder: %v, want PermissionDenied", err)
	}
	e.access.mu.Lock()
	e.access.allowed[holder.addr] = true
	e.access.err = errors.New("chain down")
	e.access.mu.Unlock()
	if _, err := release(); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("chain down: %v, want Unavailable", err)
	}
	e.access.mu.Lock()
	e.access.err = nil
	e.access.mu.Unlock()

	if _, err := e.svc.DeleteContentKeys(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := release(); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("after DeleteContentKeys: %v, want NotFound", err)
	}
}
