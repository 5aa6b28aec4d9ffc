package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/testing/pgtest"
)

// storeBackend opens two stores on one fresh database: two instances on
// PostgreSQL; the same store twice on SQLite, which is single-instance
// (its one connection is what makes it serial).
type storeBackend struct {
	name string
	open func(t *testing.T) (a, b *store)
}

// storeBackends starts one PostgreSQL server for the calling test.
func storeBackends(t *testing.T) []storeBackend {
	srv := pgtest.Start(t)
	return []storeBackend{
		{"sqlite", func(t *testing.T) (*store, *store) {
			s, err := openSQLite(t.Context(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s
		}},
		{"postgres", func(t *testing.T) (*store, *store) {
			url := srv.NewDatabase(t)
			var out [2]*store
			for i := range out {
				s, err := openPostgres(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				out[i] = s
			}
			return out[0], out[1]
		}},
	}
}

var storeT0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func testSession(id string) session {
	return session{
		ID: id, Address: "0xA11CE", ChainID: 1337, Created: storeT0,
		Expires: storeT0.Add(24 * time.Hour), MaxExpires: storeT0.Add(36 * time.Hour),
	}
}

func testKey(t *testing.T, id string, activate time.Time) storedKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return storedKey{ID: id, Private: priv, Activate: activate}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// TestStore runs the store's contract against both engines; a and b are
// two instances on PostgreSQL, so what one writes the other must see.
func TestStore(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, a, b *store)
	}{
		{"nonce consumed once", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			if err := a.addNonce(ctx, "n1", "0xA11CE", 1337, storeT0.Add(5*time.Minute), storeT0, 16); err != nil {
				t.Fatal(err)
			}
			if err := b.peekNonce(ctx, "n1", "0xA11CE", 1337, storeT0); err != nil {
				t.Fatalf("peek on the other instance: %v", err)
			}
			wantErr(t, "peek, other address", b.peekNonce(ctx, "n1", "0xB0B", 1337, storeT0), errNonceMismatch)
			wantErr(t, "peek, other chain", b.peekNonce(ctx, "n1", "0xA11CE", 1, storeT0), errNonceMismatch)
			wantErr(t, "peek, expired", b.peekNonce(ctx, "n1", "0xA11CE", 1337, storeT0.Add(5*time.Minute)), errNonceExpired)
			wantErr(t, "peek, unknown", b.peekNonce(ctx, "nope", "0xA11CE", 1337, storeT0), errNonceUnknown)
			wantErr(t, "open, expired", b.openSession(ctx, "n1", testSession("s0"), []byte("h0"), storeT0.Add(time.Hour)), errNonceExpired)
			if err := b.openSession(ctx, "n1", testSession("s1"), []byte("h1"), storeT0); err != nil {
				t.Fatal(err)
			}
			wantErr(t, "open again", a.openSession(ctx, "n1", testSession("s2"), []byte("h2"), storeT0), errNonceUsed)
			wantErr(t, "peek after use", a.peekNonce(ctx, "n1", "0xA11CE", 1337, storeT0), errNonceUsed)
			if _, err := a.session(ctx, "s2"); !errors.Is(err, errNoSession) {
				t.Fatalf("the losing sign-in left a session: %v", err)
			}
			got, err := a.session(ctx, "s1")
			if want := testSession("s1"); err != nil || got != want {
				t.Fatalf("session = %+v, %v; want %+v", got, err, want)
			}
		}},
		{"open challenges bounded", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			for i := range 3 {
				s := []*store{a, b}[i%2]
				if err := s.addNonce(ctx, fmt.Sprint("n", i), "0xA11CE", 1337, storeT0.Add(time.Minute), storeT0, 3); err != nil {
					t.Fatal(err)
				}
			}
			wantErr(t, "fourth", a.addNonce(ctx, "n3", "0xA11CE", 1337, storeT0.Add(time.Minute), storeT0, 3), errTooManyChallenges)
			if err := b.addNonce(ctx, "n4", "0xB0B", 1337, storeT0.Add(time.Minute), storeT0, 3); err != nil {
				t.Fatalf("another address: %v", err)
			}
			// Expired challenges no longer count.
			if err := b.addNonce(ctx, "n5", "0xA11CE", 1337, storeT0.Add(2*time.Minute), storeT0.Add(time.Minute), 3); err != nil {
				t.Fatal(err)
			}
		}},
		{"refresh rotates once", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			if err := a.addNonce(ctx, "n1", "0xA11CE", 1337, storeT0.Add(time.Minute), storeT0, 16); err != nil {
				t.Fatal(err)
			}
			if err := a.openSession(ctx, "n1", testSession("s1"), []byte("h1"), storeT0); err != nil {
				t.Fatal(err)
			}
			now := storeT0.Add(20 * time.Hour)
			sess, err := b.refresh(ctx, []byte("h1"), []byte("h2"), now, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if want := storeT0.Add(36 * time.Hour); !sess.Expires.Equal(want) {
				t.Fatalf("expires = %v, want the 36h cap %v", sess.Expires, want)
			}
			if got, _ := a.session(ctx, "s1"); !got.Expires.Equal(sess.Expires) {
				t.Fatalf("stored expires = %v, want %v", got.Expires, sess.Expires)
			}
			_, err = a.refresh(ctx, []byte("nope"), []byte("x"), now, time.Hour)
			wantErr(t, "unknown", err, errRefreshInvalid)
			// Presented twice: leaked, the session is revoked, and the
			// successor dies with it.
			_, err = a.refresh(ctx, []byte("h1"), []byte("h3"), now, 24*time.Hour)
			wantErr(t, "reused", err, errRefreshReused)
			if got, _ := b.session(ctx, "s1"); !got.Revoked {
				t.Fatal("session not revoked after reuse")
			}
			_, err = b.refresh(ctx, []byte("h2"), []byte("h4"), now, 24*time.Hour)
			wantErr(t, "successor", err, errSessionGone)
		}},
		{"expired refresh token", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			if err := a.addNonce(ctx, "n1", "0xA11CE", 1337, storeT0.Add(time.Minute), storeT0, 16); err != nil {
				t.Fatal(err)
			}
			if err := a.openSession(ctx, "n1", testSession("s1"), []byte("h1"), storeT0); err != nil {
				t.Fatal(err)
			}
			_, err := b.refresh(ctx, []byte("h1"), []byte("h2"), storeT0.Add(24*time.Hour), time.Hour)
			wantErr(t, "expired", err, errRefreshInvalid)
			// Refused, not spent: presenting it again is not a reuse.
			_, err = b.refresh(ctx, []byte("h1"), []byte("h2"), storeT0.Add(25*time.Hour), time.Hour)
			wantErr(t, "expired again", err, errRefreshInvalid)
		}},
		{"revoke", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			if err := a.addNonce(ctx, "n1", "0xA11CE", 1337, storeT0.Add(time.Minute), storeT0, 16); err != nil {
				t.Fatal(err)
			}
			if err := a.openSession(ctx, "n1", testSession("s1"), []byte("h1"), storeT0); err != nil {
				t.Fatal(err)
			}
			for range 2 { // idempotent
				if err := b.revoke(ctx, "s1"); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := a.session(ctx, "s1"); !got.Revoked {
				t.Fatal("not revoked")
			}
			_, err := a.refresh(ctx, []byte("h1"), []byte("h2"), storeT0, time.Hour)
			wantErr(t, "refresh after revoke", err, errRefreshReused)
			if err := b.revoke(ctx, "unknown"); err != nil {
				t.Fatalf("revoking an unknown session: %v", err)
			}
		}},
		{"sweep", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			for i, exp := range []time.Duration{time.Minute, 48 * time.Hour} {
				n, sid := fmt.Sprint("n", i), fmt.Sprint("s", i)
				if err := a.addNonce(ctx, n, "0xA11CE", 1337, storeT0.Add(exp), storeT0, 16); err != nil {
					t.Fatal(err)
				}
				sess := testSession(sid)
				sess.Expires = storeT0.Add(exp)
				if err := a.openSession(ctx, n, sess, []byte(sid), storeT0); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.sweep(ctx, storeT0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := a.session(ctx, "s0"); !errors.Is(err, errNoSession) {
				t.Fatalf("expired session kept: %v", err)
			}
			wantErr(t, "swept nonce", a.peekNonce(ctx, "n0", "0xA11CE", 1337, storeT0), errNonceUnknown)
			if _, err := a.session(ctx, "s1"); err != nil {
				t.Fatalf("live session swept: %v", err)
			}
			var n int
			if err := a.db.QueryRowContext(ctx, a.q(`SELECT count(*) FROM refresh_tokens WHERE session_id = ?`), "s0").Scan(&n); err != nil || n != 0 {
				t.Fatalf("refresh tokens of the swept session: %d (%v)", n, err)
			}
		}},
		{"signing keys compare-and-set", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			k1 := testKey(t, "k1", storeT0)
			if added, err := a.addKey(ctx, k1, ""); err != nil || !added {
				t.Fatalf("first key: %v, %v", added, err)
			}
			if added, err := b.addKey(ctx, testKey(t, "k1b", storeT0), ""); err != nil || added {
				t.Fatalf("second first key: added %v, %v; want lost", added, err)
			}
			t1 := storeT0.Add(time.Hour)
			if added, err := b.addKey(ctx, testKey(t, "k2", t1), "k1"); err != nil || !added {
				t.Fatalf("successor: %v, %v", added, err)
			}
			if added, err := a.addKey(ctx, testKey(t, "k2b", t1), "k1"); err != nil || added {
				t.Fatalf("second successor of k1: added %v, %v; want lost", added, err)
			}
			keys, err := a.keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k2" || !keys[0].Retire.Equal(t1) || !keys[1].Retire.IsZero() ||
				!keys[0].Private.Equal(k1.Private) || !keys[1].Activate.Equal(t1) {
				t.Fatalf("keys = %+v", keys)
			}
			if err := b.pruneKeys(ctx, t1); err != nil {
				t.Fatal(err)
			}
			if keys, _ := a.keys(ctx); len(keys) != 2 {
				t.Fatalf("pruned a key retired at the cutoff: %d left", len(keys))
			}
			if err := b.pruneKeys(ctx, t1.Add(time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if keys, _ := a.keys(ctx); len(keys) != 1 || keys[0].ID != "k2" {
				t.Fatalf("after prune: %+v", keys)
			}
		}},
		{"concurrent single use", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			if err := a.addNonce(ctx, "n1", "0xA11CE", 1337, storeT0.Add(time.Minute), storeT0, 16); err != nil {
				t.Fatal(err)
			}
			const n = 8
			race := func(what string, do func(s *store, i int) error, loser error) {
				t.Helper()
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { errs[i] = do([]*store{a, b}[i%2], i) })
				}
				wg.Wait()
				wins := 0
				for _, err := range errs {
					switch {
					case err == nil:
						wins++
					case !errors.Is(err, loser):
						t.Errorf("%s: err = %v, want nil or %v", what, err, loser)
					}
				}
				if wins != 1 {
					t.Fatalf("%s: %d winners, want 1 (errs %v)", what, wins, errs)
				}
			}
			race("challenge limit", func(s *store, i int) error {
				return s.addNonce(ctx, fmt.Sprint("limited", i), "0xB0B", 1337, storeT0.Add(time.Minute), storeT0, 1)
			}, errTooManyChallenges)
			race("nonce", func(s *store, i int) error {
				return s.openSession(ctx, "n1", testSession(fmt.Sprint("s", i)), []byte(fmt.Sprint("h", i)), storeT0)
			}, errNonceUsed)
			var hash []byte
			for i := range n {
				if _, err := a.session(ctx, fmt.Sprint("s", i)); err == nil {
					hash = []byte(fmt.Sprint("h", i))
				}
			}
			race("refresh", func(s *store, i int) error {
				_, err := s.refresh(ctx, hash, []byte(fmt.Sprint("next", i)), storeT0, time.Hour)
				return err
			}, errRefreshReused)
			race("first key", func(s *store, i int) error {
				ok, err := s.addKey(ctx, testKey(t, fmt.Sprint("first", i), storeT0), "")
				if err == nil && !ok {
					return errLost
				}
				return err
			}, errLost)
			keys, err := a.keys(ctx)
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys after racing first keys: %d (%v), want 1", len(keys), err)
			}
			first := keys[0].ID
			race("key rotation", func(s *store, i int) error {
				ok, err := s.addKey(ctx, testKey(t, fmt.Sprint("k", i), storeT0.Add(time.Hour)), first)
				if err == nil && !ok {
					return errLost
				}
				return err
			}, errLost)
			if keys, err := b.keys(ctx); err != nil || len(keys) != 2 {
				t.Fatalf("keys after racing rotations: %d (%v), want 2", len(keys), err)
			}
		}},
		{"playback grants", func(t *testing.T, a, b *store) {
			ctx := t.Context()
			put := func(s *store, video, addr string, issued, expires time.Duration) {
				t.Helper()
				g := storedGrant{VideoID: video, Address: addr, Policy: []byte("p:" + video),
					Issued: storeT0.Add(issued), Checked: storeT0.Add(issued), Expires: storeT0.Add(expires)}
				if err := s.putGrant(ctx, g); err != nil {
					t.Fatal(err)
				}
			}
			of := func(s *store, addr string, now time.Duration) string {
				t.Helper()
				gs, err := s.grantsOf(ctx, addr, storeT0.Add(now))
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, g := range gs {
					out = append(out, fmt.Sprintf("%s@%s+%s", g.VideoID, g.Issued.Sub(storeT0), g.Expires.Sub(storeT0)))
				}
				return fmt.Sprint(out)
			}
			put(a, "v1", "0xA11CE", 0, 10*time.Minute)
			put(a, "v2", "0xA11CE", 0, 5*time.Minute)
			put(b, "v1", "0xB0B", 0, 10*time.Minute)
			if got, want := of(b, "0xA11CE", 0), "[v1@0s+10m0s v2@0s+5m0s]"; got != want {
				t.Fatalf("grants of 0xA11CE on the other instance = %s, want %s", got, want)
			}
			// A later token extends a grant; an earlier expiry never
			// shortens it.
			put(b, "v1", "0xA11CE", time.Minute, 11*time.Minute)
			put(b, "v2", "0xA11CE", time.Minute, 4*time.Minute)
			if got, want := of(a, "0xA11CE", 0), "[v1@1m0s+11m0s v2@1m0s+5m0s]"; got != want {
				t.Fatalf("after re-issue = %s, want %s", got, want)
			}
			if got, want := of(a, "0xA11CE", 5*time.Minute), "[v1@1m0s+11m0s]"; got != want {
				t.Fatalf("at +5m = %s, want the expired grant left out: %s", got, want)
			}

			// deleteGrant spares a grant issued after the check began,
			// and may run twice.
			if err := a.deleteGrant(ctx, "v1", "0xA11CE", storeT0); err != nil {
				t.Fatal(err)
			}
			if got := of(b, "0xA11CE", 0); got != "[v1@1m0s+11m0s v2@1m0s+5m0s]" {
				t.Fatalf("a grant re-issued after the check was deleted: %s", got)
			}
			for _, s := range []*store{a, b} {
				if err := s.deleteGrant(ctx, "v1", "0xA11CE", storeT0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			if got := of(b, "0xA11CE", 0); got != "[v2@1m0s+5m0s]" {
				t.Fatalf("after delete = %s", got)
			}

			// The walk: least recently checked first, in pages, only
			// grants checked by the pass's start, never the same twice.
			walk := func(s *store, checkedBy, now time.Duration, n int) string {
				t.Helper()
				var out []string
				cur := grantsStart
				for {
					page, next, err := s.grantsByChecked(ctx, cur, storeT0.Add(checkedBy), storeT0.Add(now), n)
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range page {
						out = append(out, g.VideoID+"/"+g.Address)
					}
					if len(page) < n {
						return fmt.Sprint(out)
					}
					cur = next
				}
			}
			put(a, "v3", "0xC4", 0, 10*time.Minute)
			put(a, "v4", "0xD4", 2*time.Minute, 10*time.Minute)
			// v2/0xA11CE and v1/0xB0B: checked +1m and 0.
			if got, want := walk(b, 2*time.Minute, 0, 2), "[v1/0xB0B v3/0xC4 v2/0xA11CE v4/0xD4]"; got != want {
				t.Fatalf("walk = %s, want %s", got, want)
			}
			if got, want := walk(b, time.Minute, 0, 1), "[v1/0xB0B v3/0xC4 v2/0xA11CE]"; got != want {
				t.Fatalf("walk of grants checked by +1m = %s, want %s", got, want)
			}
			if got, want := walk(a, 2*time.Minute, 6*time.Minute, 2), "[v1/0xB0B v3/0xC4 v4/0xD4]"; got != want {
				t.Fatalf("walk at +6m = %s, want the expired grant left out: %s", got, want)
			}
			if err := a.markGrantChecked(ctx, "v1", "0xB0B", storeT0.Add(3*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := b.markGrantChecked(ctx, "v1", "0xB0B", storeT0.Add(time.Minute)); err != nil { // older: ignored
				t.Fatal(err)
			}
			if got, want := walk(b, 3*time.Minute, 0, 10), "[v3/0xC4 v2/0xA11CE v4/0xD4 v1/0xB0B]"; got != want {
				t.Fatalf("walk after marks = %s, want %s", got, want)
			}

			// The sweep deletes grants expired before its cut-off.
			if err := b.sweep(ctx, storeT0.Add(6*time.Minute)); err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := a.db.QueryRowContext(ctx, `SELECT count(*) FROM playback_grants`).Scan(&rows); err != nil || rows != 3 {
				t.Fatalf("rows after the sweep = %d (%v), want 3 (v2/0xA11CE expired at +5m)", rows, err)
			}
		}},
	}
	for _, be := range storeBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					a, b := be.open(t)
					c.run(t, a, b)
				})
			}
		})
	}
}

var errLost = errors.New("lost the compare-and-set")

// TestPostgresConcurrentStarts: instances starting at once on an empty
// database all come up, and auth's tables live in their own schema.
func TestPostgresConcurrentStarts(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := openPostgres(context.Background(), url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	s, err := openPostgres(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.db.QueryContext(t.Context(), `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			t.Fatal(err)
		}
		got = append(got, schema+"."+table)
	}
	want := fmt.Sprint([]string{pgSchema + ".content_key_previews", pgSchema + ".content_keys", pgSchema + ".nonces", pgSchema + ".playback_grants", pgSchema + ".refresh_tokens", pgSchema + ".sessions", pgSchema + ".signing_keys"})
	if fmt.Sprint(got) != want {
		t.Fatalf("tables = %v, want %v", got, want)
	}
}

func TestPostgresRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                              "SELECT 1",
		"a = ? AND b = ?":                       "a = $1 AND b = $2",
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	} {
		if got := (pgDialect{}).rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigDatabaseURL(t *testing.T) {
	for _, tt := range []struct {
		name, dataDir, url string
		ok                 bool
	}{
		{"sqlite in DataDir", "/tmp/x", "", true},
		{"postgres without DataDir", "", "postgres://u@127.0.0.1:5432/db", true},
		{"postgresql scheme", "", "postgresql://u@127.0.0.1/db", true},
		{"neither", "", "", false},
		{"not postgres", "/tmp/x", "sqlite:///tmp/x/auth.db", false},
		{"not a URL", "/tmp/x", "::nope", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Domain: testDomain, URI: testURI, DataDir: tt.dataDir, DatabaseURL: tt.url}
			if err := c.setDefaults(); (err == nil) != tt.ok {
				t.Fatalf("setDefaults = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
