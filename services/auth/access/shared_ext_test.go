package access_test

import (
	"context"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/internal/testing/redistest"
	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
	"github.com/streamgate/streamgate/services/cache/redis"
)

// cacheBackends are the cache service's two backends; redis is what a
// multi-instance deployment runs.

func cacheBackends() []struct {
	name string
	new  func(t *testing.T) cache.Backend
} {
	return []struct {
		name string
		new  func(t *testing.T) cache.Backend
	}{
		{"memory", func(t *testing.T) cache.Backend {
			b, err := memory.New(memory.Config{MaxEntries: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"redis", func(t *testing.T) cache.Backend {
			b, err := redis.New(t.Context(), redis.Config{URL: redistest.Start(t).URL()})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
}

// serveCache runs the cache service on a loopback h2c server, as across the
// mesh, and returns a generated client for it.
func serveCache(t testing.TB, b cache.Backend) cachev1connect.CacheServiceClient {
	t.Helper()
	svc, err := cache.New(cache.Config{}, b, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: mux, Protocols: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return cachev1connect.NewCacheServiceClient(&http.Client{Transport: tr}, "http://"+ln.Addr().String())
}

func newShared(t testing.TB, client access.CacheClient, cfg access.SharedConfig) *access.SharedCache {
	t.Helper()
	if cfg.Timeout == 0 {
		// The production bound (250 ms: a slow cache is a miss) is too
		// tight for a loaded CI machine under -race, and these tests are
		// about what is served, not how fast.
		cfg.Timeout = 10 * time.Second
	}
	c, err := access.NewSharedCache(cfg, client, discard())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSharedCache(t *testing.T) {
	for _, bc := range cacheBackends() {
		t.Run(bc.name, func(t *testing.T) {
			ctx := t.Context()
			client := serveCache(t, bc.new(t))
			clk := newClock()
			// Two instances, each with its own short local copy.
			a := newShared(t, client, access.SharedConfig{LocalTTL: time.Second, Now: clk.Now})
			b := newShared(t, client, access.SharedConfig{LocalTTL: time.Second, Now: clk.Now})
			holder, contract := common.HexToAddress("0x00000000000000000000000000000000000000aa"), common.HexToAddress("0x00000000000000000000000000000000000000cc")
			k := access.Key{ChainID: 1, Contract: contract, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, TokenID: "7", Holder: holder}
			other := k
			other.TokenID = "8"
			checked := time.UnixMilli(clk.Now().UnixMilli())
			obs := func(block uint64, bal int64) access.Observation {
				return access.Observation{Balance: big.NewInt(bal), BlockNumber: block, CheckedAt: checked}
			}
			expire := func() { clk.Advance(2 * time.Second) } // past both local copies

			if _, ok := b.Get(ctx, k); ok {
				t.Fatal("empty cache: hit")
			}
			a.Put(ctx, k, obs(10, 1), time.Minute)
			got, ok := b.Get(ctx, k)
			if !ok || got.Balance.Int64() != 1 || got.BlockNumber != 10 || !got.CheckedAt.Equal(checked) {
				t.Fatalf("b.Get after a.Put = %+v, %v; want a's observation", got, ok)
			}

			// A transfer seen by a at block 11 shadows what was read before
			// it, on every instance once its local copy is gone.
			a.Invalidate(ctx, 1, contract, 11, holder)
			if _, ok := a.Get(ctx, k); ok {
				t.Fatal("a serves an entry it invalidated")
			}
			expire()
			if _, ok := b.Get(ctx, k); ok {
				t.Fatal("b serves an entry read before the transfer")
			}
			// A read that raced the transfer (block 10) stays refused, by
			// whichever instance stores it; a read after it is served.
			b.Put(ctx, k, obs(10, 1), time.Minute)
			expire()
			if _, ok := a.Get(ctx, k); ok {
				t.Fatal("a serves a racing read stored after the transfer")
			}
			b.Put(ctx, k, obs(11, 0), time.Minute)
			expire()
			if got, ok := a.Get(ctx, k); !ok || got.Balance.Sign() != 0 || got.BlockNumber != 11 {
				t.Fatalf("a.Get after a fresh read = %+v, %v", got, ok)
			}
			// A lower floor never lowers a higher one.
			a.Invalidate(ctx, 1, contract, 20, holder)
			a.Invalidate(ctx, 1, contract, 15, holder)
			b.Put(ctx, k, obs(17, 1), time.Minute)
			expire()
			if _, ok := a.Get(ctx, k); ok {
				t.Fatal("the floor went down from 20 to 15")
			}

			// Without a block, the holder's entries are deleted.
			b.Put(ctx, k, obs(30, 1), time.Minute)
			b.Put(ctx, other, obs(30, 1), time.Minute)
			a.Invalidate(ctx, 1, contract, 0, holder)
			expire()
			for _, key := range []access.Key{k, other} {
				if _, ok := b.Get(ctx, key); ok {
					t.Fatalf("%s survived an invalidation without a block", key.TokenID)
				}
			}
		})
	}
}

// TestSharedCacheRefusesWhatItCannotRead: entries and floors the cache holds
// but this version cannot decode are misses, not errors or wrong answers.
func TestSharedCacheRefusesWhatItCannotRead(t *testing.T) {
	ctx := t.Context()
	client := serveCache(t, cacheBackends()[0].new(t))
	c := newShared(t, client, access.SharedConfig{})
	holder, contract := common.HexToAddress("0xaa"), common.HexToAddress("0xcc")
	k := access.Key{ChainID: 5, Contract: contract, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, Holder: holder}
	c.Put(ctx, k, access.Observation{Balance: big.NewInt(1), BlockNumber: 3, CheckedAt: time.Now()}, time.Minute)
	set := func(key string, v []byte) {
		t.Helper()
		if _, err := client.Set(ctx, connect.NewRequest(&cachev1.SetRequest{Namespace: "auth.access", Key: key, Value: v})); err != nil {
			t.Fatal(err)
		}
	}
	local := newShared(t, client, access.SharedConfig{})
	if _, ok := local.Get(ctx, k); !ok {
		t.Fatal("a valid entry was not served")
	}
	floor := "f:5:" + "0x00000000000000000000000000000000000000cc:0x00000000000000000000000000000000000000aa"
	set(floor, []byte{9, 9})
	if _, ok := newShared(t, client, access.SharedConfig{}).Get(ctx, k); ok {
		t.Fatal("an entry was served under an unreadable floor")
	}
	set(floor, []byte{1, 2})
	entry := "o:5:0x00000000000000000000000000000000000000cc:0x00000000000000000000000000000000000000aa:1:"
	for _, v := range [][]byte{nil, {2}, {1}, {1, 0x80}, append([]byte{1, 1, 1}, make([]byte, 33)...)} {
		set(entry, v)
		if _, ok := newShared(t, client, access.SharedConfig{}).Get(ctx, k); ok {
			t.Fatalf("value %x was served", v)
		}
	}
}

// TestSharedCacheDown: a cache service that does not answer is a miss, and
// puts and invalidations return (bounded by the timeout).
func TestSharedCacheDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client := cachev1connect.NewCacheServiceClient(http.DefaultClient, "http://"+addr)
	c := newShared(t, client, access.SharedConfig{Timeout: 200 * time.Millisecond})
	k := access.Key{ChainID: 1, Holder: common.HexToAddress("0x1")}
	ctx := t.Context()
	c.Put(ctx, k, access.Observation{Balance: big.NewInt(1), BlockNumber: 1, CheckedAt: time.Now()}, time.Minute)
	c.Invalidate(ctx, 1, common.Address{}, 2, k.Holder)
	if _, ok := newShared(t, client, access.SharedConfig{Timeout: 200 * time.Millisecond}).Get(ctx, k); ok {
		t.Fatal("a hit from a cache that is down")
	}
}

// TestTwoAuthInstancesShareDecisions is the production path: two auth
// instances (an evaluator each, on the dev chain) and one cache service. A
// decision made by one is served to the other without a chain read, and a
// Transfer seen by one instance's watcher invalidates the decision on both,
// including the instance that does not follow the contract itself.
func TestTwoAuthInstancesShareDecisions(t *testing.T) {
	for _, bc := range cacheBackends() {
		t.Run(bc.name, func(t *testing.T) {
			ctx := t.Context()
			aliceKey, alice := newWallet(t)
			_, bob := newWallet(t)
			if err := dev.Fund(ctx, alice, big.NewInt(1e18)); err != nil {
				t.Fatal(err)
			}
			passID, err := dev.Mint721(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			client := serveCache(t, bc.new(t))
			chainClient := newChainClient(t, dev.RPCURL(), time.Minute)
			instance := func() (*access.Evaluator, *countingChain) {
				cc := &countingChain{Chain: chainClient}
				shared := newShared(t, client, access.SharedConfig{LocalTTL: 300 * time.Millisecond})
				ev, err := access.NewEvaluator(access.Config{PositiveTTL: time.Hour, NegativeTTL: time.Hour}, cc, shared, discard())
				if err != nil {
					t.Fatal(err)
				}
				return ev, cc
			}
			evA, chainA := instance()
			evB, chainB := instance()
			byOwner := all(r721(dev.PassAddress(), passID.String(), ""))

			d, err := evA.Check(ctx, byOwner, alice, false)
			if err != nil || !d.Allowed || d.Rules[0].Cached {
				t.Fatalf("A's first check = %+v, %v; want allowed, read from the chain", d, err)
			}
			if chainA.calls.Load() == 0 {
				t.Fatal("A made no chain call")
			}
			d, err = evB.Check(ctx, byOwner, alice, false)
			if err != nil || !d.Allowed || !d.Rules[0].Cached {
				t.Fatalf("B's check = %+v, %v; want A's decision from the cache service", d, err)
			}
			if n := chainB.calls.Load(); n != 0 {
				t.Fatalf("B made %d chain calls for a decision A had made", n)
			}

			// Only A follows transfers.
			w, err := access.NewWatcher(access.WatcherConfig{PollInterval: 100 * time.Millisecond}, chainClient, evA, discard())
			if err != nil {
				t.Fatal(err)
			}
			var seen atomic.Bool
			w.OnTransfer(func(_ context.Context, _ uint64, contract, from, to common.Address, _ uint64) {
				if contract == dev.PassAddress() && from == alice && to == bob {
					seen.Store(true)
				}
			})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(runCtx) }()
			t.Cleanup(func() { cancel(); <-done })
			poll.Until(t, 15*time.Second, "the watcher to start", func() bool { return w.LastBlock(devchain.ChainID) > 0 })

			if err := dev.Transfer721(ctx, aliceKey, bob, passID); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, 20*time.Second, "A's watcher to see the transfer", seen.Load)
			before := chainA.calls.Load() + chainB.calls.Load()
			if d, err := evA.Check(ctx, byOwner, alice, false); err != nil || d.Allowed {
				t.Fatalf("A after the transfer = %+v, %v; want refused", d, err)
			}
			// B's short local copy expires and the floor A wrote refuses the
			// old entry: B reads the chain (or A's fresh read) and refuses.
			poll.Until(t, 5*time.Second, "B to refuse alice", func() bool {
				d, err := evB.Check(ctx, byOwner, alice, false)
				return err == nil && !d.Allowed
			})
			if d, err := evB.Check(ctx, byOwner, bob, false); err != nil || !d.Allowed {
				t.Fatalf("B for the new owner = %+v, %v; want allowed", d, err)
			}
			if chainA.calls.Load()+chainB.calls.Load() == before {
				t.Fatal("nobody read the chain after the transfer")
			}
		})
	}
}
