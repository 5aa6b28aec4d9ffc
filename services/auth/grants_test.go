package auth

import (
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
)

var erc20Policy = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
	ChainId: 1337, ContractAddress: "0x4444444444444444444444444444444444444444", Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC20, MinBalance: "1",
}}}

// grantEngine configures a service on one engine; every call of db on
// the same engine value opens the same database.
type grantEngine struct {
	name string
	db   func(t *testing.T) func(*Config) // a fresh database; the mutator opens it
}

// grantEngines: SQLite in a fresh directory, PostgreSQL in a fresh
// database of one server started for the calling test.
func grantEngines(t *testing.T) []grantEngine {
	srv := pgtest.Start(t)
	return []grantEngine{
		{"sqlite", func(t *testing.T) func(*Config) {
			dir := t.TempDir()
			return func(c *Config) { c.DataDir = dir }
		}},
		{"postgres", func(t *testing.T) func(*Config) {
			url := srv.NewDatabase(t)
			return func(c *Config) { c.DatabaseURL = url }
		}},
	}
}

// issue gets a playback token for videoID as w.
func (e *env) issue(w wallet, videoID string) {
	e.t.Helper()
	tok := e.login(w).GetAccessToken()
	if _, err := e.client.IssuePlaybackToken(e.t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: videoID}, tok)); err != nil {
		e.t.Fatalf("IssuePlaybackToken(%s) as %s: %v", videoID, w.addr.Hex(), err)
	}
}

// grantsOf lists the live grants of addr as "video@expiry-offset".
func grantsOf(t *testing.T, svc *Service, addr common.Address, t0 time.Time) []string {
	t.Helper()
	gs, err := svc.store.grantsOf(t.Context(), addr.Hex(), svc.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s@%s", g.VideoID, g.Expires.Sub(t0)))
	}
	return out
}

// TestGrants runs the service's playback grants on both engines.
func TestGrants(t *testing.T) {
	pass := common.HexToAddress(nftPolicy.GetRules()[0].GetContractAddress())
	for _, eng := range grantEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			newGated := func(t *testing.T, db func(*Config)) (*env, wallet) {
				e := newEnv(t, db)
				w := newWallet(t)
				e.access.allowed[w.addr] = true
				e.videos.videos["vid_nft"] = readyVideo("vid_nft", nftPolicy)
				e.videos.videos["vid_erc20"] = readyVideo("vid_erc20", erc20Policy)
				e.videos.videos["vid_public"] = readyVideo("vid_public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC})
				return e, w
			}

			t.Run("recorded for every gated policy, ERC-20 included; a later token extends it", func(t *testing.T) {
				e, w := newGated(t, eng.db(t))
				t0 := e.clock.Now()
				for _, v := range []string{"vid_nft", "vid_erc20", "vid_public"} {
					e.issue(w, v)
				}
				if got, want := fmt.Sprint(grantsOf(t, e.svc, w.addr, t0)), "[vid_erc20@10m0s vid_nft@10m0s]"; got != want {
					t.Fatalf("grants = %s, want %s (public videos are not recorded)", got, want)
				}
				gs, err := e.svc.store.grantsOf(t.Context(), w.addr.Hex(), t0)
				if err != nil {
					t.Fatal(err)
				}
				for _, sg := range gs {
					g, ok := e.svc.decodeGrant(t.Context(), sg)
					want := map[string]*authv1.AccessPolicy{"vid_nft": nftPolicy, "vid_erc20": erc20Policy}[sg.VideoID]
					if !ok || !proto.Equal(g.policy, want) || g.address != w.addr {
						t.Fatalf("stored grant %s = %v %v, want policy %v of %s", sg.VideoID, g.policy, g.address.Hex(), want, w.addr.Hex())
					}
				}
				e.clock.Add(3 * time.Minute)
				e.issue(w, "vid_nft")
				if got, want := fmt.Sprint(grantsOf(t, e.svc, w.addr, t0)), "[vid_erc20@10m0s vid_nft@13m0s]"; got != want {
					t.Fatalf("after a second token = %s, want %s", got, want)
				}
			})

			t.Run("survive a restart", func(t *testing.T) {
				db := eng.db(t)
				e, w := newGated(t, db)
				e.issue(w, "vid_nft")
				e.issue(w, "vid_erc20")
				if err := e.svc.Close(); err != nil {
					t.Fatal(err)
				}
				e.start(db) // a new Service on the same database
				pub := &fakePublisher{}
				e.svc.publisher = pub
				if n := liveGrants(t, e.svc); n != 2 {
					t.Fatalf("grants after the restart = %d, want 2", n)
				}
				e.access.allowed[w.addr] = false
				e.svc.OnTransfer(t.Context(), 1337, pass, w.addr, common.Address{9}, 42)
				if len(pub.msgs) != 1 || pub.msgs[0].GetVideoId() != "vid_nft" {
					t.Fatalf("published %v, want vid_nft's revocation", pub.msgs)
				}
				r, err := e.svc.ReverifyGrants(t.Context(), 10)
				if err != nil || r != (ReverifyResult{Checked: 1, Revoked: 1}) {
					t.Fatalf("ReverifyGrants = %+v, %v; want the ERC-20 grant revoked", r, err)
				}
				if len(pub.msgs) != 2 || pub.msgs[1].GetVideoId() != "vid_erc20" || liveGrants(t, e.svc) != 0 {
					t.Fatalf("published %v, %d grants left; want vid_erc20 revoked too, none left", pub.msgs, liveGrants(t, e.svc))
				}
			})

			t.Run("expired grants are not re-checked, then swept", func(t *testing.T) {
				e, w := newGated(t, eng.db(t))
				e.issue(w, "vid_nft")
				e.clock.Add(e.svc.cfg.PlaybackTTL)
				calls := e.access.calls
				e.svc.OnTransfer(t.Context(), 1337, pass, w.addr, common.Address{9}, 42)
				if r, err := e.svc.ReverifyGrants(t.Context(), 10); err != nil || r != (ReverifyResult{}) {
					t.Fatalf("ReverifyGrants = %+v, %v; want nothing to do", r, err)
				}
				if e.access.calls != calls {
					t.Fatalf("an expired grant was re-checked (%d checks)", e.access.calls-calls)
				}
				rows := func() int {
					var n int
					if err := e.svc.store.db.QueryRowContext(t.Context(), `SELECT count(*) FROM playback_grants`).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
				if n := rows(); n != 1 {
					t.Fatalf("rows before the sweep = %d, want 1", n)
				}
				// What Run does every sweepInterval.
				e.clock.Add(2 * time.Hour)
				if err := e.svc.store.sweep(t.Context(), e.clock.Now().Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
				if n := rows(); n != 0 {
					t.Fatalf("rows after the sweep = %d, want 0", n)
				}
			})

			t.Run("re-verification walks every grant in bounded passes", func(t *testing.T) {
				e, _ := newGated(t, eng.db(t))
				t0 := e.clock.Now()
				const total, limit = 700, 600 // more than a page (reverifyPage)
				for i := range total {
					a := common.BigToAddress(big.NewInt(int64(i + 1)))
					e.access.allowed[a] = true
					if err := e.svc.recordGrant(t.Context(), "vid_nft", a, nftPolicy, t0.Add(time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
				pass := func(limit int) ReverifyResult {
					t.Helper()
					r, err := e.svc.ReverifyGrants(t.Context(), limit)
					if err != nil {
						t.Fatal(err)
					}
					return r
				}
				uncheckedSince := func(when time.Time) int {
					var n int
					if err := e.svc.store.db.QueryRowContext(t.Context(), e.svc.store.q(`SELECT count(*) FROM playback_grants WHERE checked <= ?`), ms(when)).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
				// Two passes at the grants' own instant check each once.
				for range 2 {
					if r := pass(0); r != (ReverifyResult{Checked: total}) {
						t.Fatalf("pass at the issue instant = %+v, want %d checked", r, total)
					}
				}
				e.clock.Add(time.Second)
				if r := pass(limit); r != (ReverifyResult{Checked: limit}) {
					t.Fatalf("first bounded pass = %+v, want %d checked", r, limit)
				}
				if n := uncheckedSince(t0); n != total-limit {
					t.Fatalf("grants not re-checked after the first pass = %d, want %d", n, total-limit)
				}
				e.clock.Add(time.Second)
				if r := pass(limit); r != (ReverifyResult{Checked: limit}) {
					t.Fatalf("second bounded pass = %+v, want %d checked", r, limit)
				}
				if n := uncheckedSince(t0); n != 0 {
					t.Fatalf("grants never re-checked after two passes = %d, want 0 (least recently checked first)", n)
				}
			})
		})
	}
}

// TestGrantsSharedByInstances: two auth instances on one PostgreSQL
// database; a grant issued by A is revoked by B, on a transfer or by
// re-verification, and both handling the same transfer announce it once.
func TestGrantsSharedByInstances(t *testing.T) {
	srv := pgtest.Start(t)
	pass := common.HexToAddress(nftPolicy.GetRules()[0].GetContractAddress())
	setup := func(t *testing.T) (a, b *env, pa, pb *fakePublisher, w wallet) {
		url := srv.NewDatabase(t)
		a, b = newEnv(t, func(c *Config) { c.DatabaseURL = url }), newEnv(t, func(c *Config) { c.DatabaseURL = url })
		pa, pb = &fakePublisher{}, &fakePublisher{}
		a.svc.publisher, b.svc.publisher = pa, pb
		w = newWallet(t)
		for _, e := range []*env{a, b} {
			e.access.allowed[w.addr] = true
			e.videos.videos["vid_nft"] = readyVideo("vid_nft", nftPolicy)
			e.videos.videos["vid_erc20"] = readyVideo("vid_erc20", erc20Policy)
		}
		a.issue(w, "vid_nft")
		a.issue(w, "vid_erc20")
		for _, e := range []*env{a, b} {
			e.access.allowed[w.addr] = false
		}
		return a, b, pa, pb, w
	}

	t.Run("B revokes A's grants", func(t *testing.T) {
		a, b, pa, pb, w := setup(t)
		b.svc.OnTransfer(t.Context(), 1337, pass, w.addr, common.Address{9}, 42)
		if len(pb.msgs) != 1 || pb.msgs[0].GetVideoId() != "vid_nft" || pb.msgs[0].GetEventId() != "ownership.changed:vid_nft:"+w.addr.Hex()+":42" {
			t.Fatalf("B published %v, want vid_nft's revocation at block 42", pb.msgs)
		}
		if got := fmt.Sprint(grantsOf(t, a.svc, w.addr, a.clock.Now())); got != "[vid_erc20@10m0s]" {
			t.Fatalf("grants seen by A after B's revocation = %s, want only vid_erc20's", got)
		}
		r, err := b.svc.ReverifyGrants(t.Context(), 0)
		if err != nil || r != (ReverifyResult{Checked: 1, Revoked: 1}) {
			t.Fatalf("B's ReverifyGrants = %+v, %v; want A's ERC-20 grant revoked", r, err)
		}
		if len(pb.msgs) != 2 || pb.msgs[1].GetVideoId() != "vid_erc20" || len(pa.msgs) != 0 || liveGrants(t, a.svc) != 0 {
			t.Fatalf("B published %v, A %v, %d grants left", pb.msgs, pa.msgs, liveGrants(t, a.svc))
		}
	})

	t.Run("both handle the same transfer", func(t *testing.T) {
		a, b, pa, pb, w := setup(t)
		var wg sync.WaitGroup
		for _, e := range []*env{a, b} {
			wg.Go(func() { e.svc.OnTransfer(t.Context(), 1337, pass, w.addr, common.Address{9}, 42) })
		}
		wg.Wait()
		// Each may have announced it (JetStream keeps one: same event id);
		// at least one did, and the grant is gone for both.
		if len(pa.msgs)+len(pb.msgs) == 0 {
			t.Fatal("nobody announced the revocation")
		}
		for _, m := range append(pa.msgs, pb.msgs...) {
			if m.GetEventId() != "ownership.changed:vid_nft:"+w.addr.Hex()+":42" {
				t.Fatalf("event id = %q, want the transfer's", m.GetEventId())
			}
		}
		if got := fmt.Sprint(grantsOf(t, b.svc, w.addr, b.clock.Now())); got != "[vid_erc20@10m0s]" {
			t.Fatalf("grants left = %s, want only vid_erc20's", got)
		}
		// A transfer handled late by an instance finds nothing to revoke.
		n := len(pa.msgs)
		a.svc.OnTransfer(t.Context(), 1337, pass, w.addr, common.Address{9}, 42)
		if len(pa.msgs) != n {
			t.Fatalf("a second handling published again: %v", pa.msgs[n:])
		}
	})
}
