package ownercache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// inProcess returns a real cache service over the memory backend.
func inProcess(t testing.TB) *cache.Service {
	t.Helper()
	b, err := memory.New(memory.Config{MaxEntries: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cache.New(cache.Config{}, b, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func newCache(t testing.TB, cfg Config, store Store) *Cache {
	t.Helper()
	c, err := New(cfg, store, discard())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var owned = Decision{Allowed: true, Balance: "1", BlockNumber: 1234, CheckedAt: time.UnixMilli(1_700_000_000_123)}

// A burst of identical misses makes a single chain call.
func TestSingleflight(t *testing.T) {
	const callers = 100
	c := newCache(t, Config{}, inProcess(t).InProcess())
	var joined atomic.Int64
	allJoined := make(chan struct{})
	c.joined = func() {
		if joined.Add(1) == callers {
			close(allJoined)
		}
	}
	gate := make(chan struct{})
	var loads atomic.Int64
	load := func(ctx context.Context) (Decision, error) {
		loads.Add(1)
		select {
		case <-gate:
			return owned, nil
		case <-ctx.Done():
			return Decision{}, ctx.Err()
		}
	}
	key := Key(1, "erc721", "0xABC", "7", "0xDEF")
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			d, cached, err := c.Get(t.Context(), key, load)
			switch {
			case err != nil:
				errs <- err
			case cached || d != owned:
				errs <- errors.New("a caller of the burst got a cached or different decision")
			}
		})
	}
	// Every caller has missed and joined the one load before it may end.
	select {
	case <-allJoined:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d callers joined", joined.Load(), callers)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1", n)
	}
	// The next caller is served from the cache.
	d, cached, err := c.Get(t.Context(), key, func(context.Context) (Decision, error) {
		t.Error("loader called on a hit")
		return Decision{}, nil
	})
	if err != nil || !cached || d != owned {
		t.Fatalf("Get after the burst = (%+v, %v, %v), want the cached decision", d, cached, err)
	}
}

// recorder is a Store that records the TTLs it is given and holds nothing.
type recorder struct {
	Store
	mu   sync.Mutex
	ttls []time.Duration
	err  error
}

func (r *recorder) Get(context.Context, *connect.Request[cachev1.GetRequest]) (*connect.Response[cachev1.GetResponse], error) {
	if r.err != nil {
		return nil, r.err
	}
	return connect.NewResponse(&cachev1.GetResponse{}), nil
}

func (r *recorder) Set(_ context.Context, req *connect.Request[cachev1.SetRequest]) (*connect.Response[cachev1.SetResponse], error) {
	r.mu.Lock()
	r.ttls = append(r.ttls, req.Msg.GetTtl().AsDuration())
	r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	return connect.NewResponse(&cachev1.SetResponse{}), nil
}

func TestPositiveAndNegativeTTL(t *testing.T) {
	rec := &recorder{}
	c := newCache(t, Config{PositiveTTL: 90 * time.Second, NegativeTTL: 5 * time.Second}, rec)
	for _, allowed := range []bool{true, false} {
		if _, _, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) {
			return Decision{Allowed: allowed, Balance: "0"}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.ttls) != 2 || rec.ttls[0] != 90*time.Second || rec.ttls[1] != 5*time.Second {
		t.Errorf("TTLs stored = %v, want [1m30s 5s]", rec.ttls)
	}
}

func TestNegativeDecisionCachedThenExpires(t *testing.T) {
	c := newCache(t, Config{NegativeTTL: time.Second}, inProcess(t).InProcess())
	var loads atomic.Int64
	load := func(context.Context) (Decision, error) {
		loads.Add(1)
		return Decision{Allowed: false, Balance: "0", BlockNumber: 9}, nil
	}
	for range 3 {
		if d, _, err := c.Get(t.Context(), "k", load); err != nil || d.Allowed {
			t.Fatalf("Get = (%+v, %v), want a denial", d, err)
		}
	}
	if loads.Load() != 1 {
		t.Fatalf("loads = %d, want 1 (the denial is cached)", loads.Load())
	}
	deadline := time.Now().Add(15 * time.Second)
	for loads.Load() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the 1s denial was still cached after 15s")
		}
		if _, _, err := c.Get(t.Context(), "k", load); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoadErrorIsNotCached(t *testing.T) {
	c := newCache(t, Config{}, inProcess(t).InProcess())
	chainDown := errors.New("chain RPC: connection refused")
	if _, _, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { return Decision{}, chainDown }); !errors.Is(err, chainDown) {
		t.Fatalf("Get = %v, want the loader's error", err)
	}
	d, cached, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { return owned, nil })
	if err != nil || cached || d != owned {
		t.Fatalf("Get after a failed load = (%+v, %v, %v), want a fresh load", d, cached, err)
	}
}

// A cache that fails is a miss; decisions still flow.
func TestCacheDownIsAMiss(t *testing.T) {
	rec := &recorder{err: connect.NewError(connect.CodeUnavailable, errors.New("down"))}
	c := newCache(t, Config{}, rec)
	var loads int
	for range 2 {
		d, cached, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { loads++; return owned, nil })
		if err != nil || cached || d != owned {
			t.Fatalf("Get = (%+v, %v, %v), want the loaded decision", d, cached, err)
		}
	}
	if loads != 2 {
		t.Errorf("loads = %d, want 2", loads)
	}
}

// An undecodable entry (another writer, an old version) is a miss and is
// overwritten.
func TestUndecodableEntryIsAMiss(t *testing.T) {
	svc := inProcess(t)
	if _, err := svc.Set(t.Context(), "auth.ownership", "k", []byte{9, 9, 9}, cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	c := newCache(t, Config{}, svc.InProcess())
	d, cached, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { return owned, nil })
	if err != nil || cached || d != owned {
		t.Fatalf("Get = (%+v, %v, %v), want a fresh load", d, cached, err)
	}
	if _, cached, _ := c.Get(t.Context(), "k", nil); !cached {
		t.Error("the fresh decision was not stored over the bad entry")
	}
}

// A caller that gives up does not cancel the load the others wait for.
func TestCallerCancelDoesNotCancelLoad(t *testing.T) {
	c := newCache(t, Config{}, inProcess(t).InProcess())
	gate := make(chan struct{})
	started := make(chan struct{})
	load := func(ctx context.Context) (Decision, error) {
		close(started)
		select {
		case <-gate:
			return owned, nil
		case <-ctx.Done():
			return Decision{}, ctx.Err()
		}
	}
	joined := make(chan struct{})
	var n atomic.Int64
	c.joined = func() {
		if n.Add(1) == 2 {
			close(joined)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "k", load)
		first <- err
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		d, _, err := c.Get(t.Context(), "k", load)
		if err == nil && d != owned {
			err = errors.New("wrong decision")
		}
		second <- err
	}()
	<-joined
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	close(gate)
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v", err)
	}
}

func TestRefreshAndInvalidate(t *testing.T) {
	c := newCache(t, Config{}, inProcess(t).InProcess())
	if _, _, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { return owned, nil }); err != nil {
		t.Fatal(err)
	}
	moved := Decision{Allowed: false, Balance: "0", BlockNumber: 1300, CheckedAt: time.UnixMilli(1_700_000_100_000)}
	if d, err := c.Refresh(t.Context(), "k", func(context.Context) (Decision, error) { return moved, nil }); err != nil || d != moved {
		t.Fatalf("Refresh = (%+v, %v)", d, err)
	}
	if d, cached, _ := c.Get(t.Context(), "k", nil); !cached || d != moved {
		t.Fatalf("Get after Refresh = (%+v, %v), want the refreshed decision from cache", d, cached)
	}
	if err := c.Invalidate(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if _, cached, _ := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { return owned, nil }); cached {
		t.Fatal("Get after Invalidate was served from cache")
	}
}

// The helper works over Connect with the generated client, as auth uses it
// when the cache runs in another process.
func TestOverConnect(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(inProcess(t).Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := cachev1connect.NewCacheServiceClient(srv.Client(), srv.URL)
	c := newCache(t, Config{}, client)
	var loads int
	for range 3 {
		d, _, err := c.Get(t.Context(), "k", func(context.Context) (Decision, error) { loads++; return owned, nil })
		if err != nil || d != owned {
			t.Fatalf("Get = (%+v, %v)", d, err)
		}
	}
	if loads != 1 {
		t.Errorf("loads = %d, want 1", loads)
	}
}

func TestEncoding(t *testing.T) {
	for _, d := range []Decision{
		owned,
		{Allowed: false, Balance: "0", CheckedAt: time.UnixMilli(0)},
		{Allowed: true, Balance: "115792089237316195423570985008687907853269984665640564039457584007913129639935", BlockNumber: 1<<64 - 1, CheckedAt: time.UnixMilli(1_700_000_000_000)},
	} {
		got, err := Decode(Encode(d))
		if err != nil || got != d {
			t.Errorf("Decode(Encode(%+v)) = (%+v, %v)", d, got, err)
		}
	}
	if n := len(Encode(owned)); n > 16 {
		t.Errorf("encoded size = %d bytes, want compact (<= 16)", n)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0, 0, 0}, {1, 4, 0, 0}, {1, 0, 0x80}, {1, 0, 1, 2, 'x'}} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%v) succeeded", bad)
		}
	}
}

func TestKey(t *testing.T) {
	if a, b := Key(1, "erc721", "0xAbC", "7", "0xDeF"), Key(1, "erc721", "0xabc", "7", "0xdef"); a != b {
		t.Errorf("keys differ by address case: %q vs %q", a, b)
	}
}

// With a local copy, hits cost no call to the cache service; the copy
// lives LocalTTL at most and never past the entry's TTL in the service.
func TestLocalCopy(t *testing.T) {
	svc := inProcess(t)
	c := newCache(t, Config{LocalTTL: 300 * time.Millisecond}, svc.InProcess())
	defer c.Close()
	var loads atomic.Int64
	load := func(context.Context) (Decision, error) { loads.Add(1); return owned, nil }
	if _, _, err := c.Get(t.Context(), "k", load); err != nil {
		t.Fatal(err)
	}
	// Another process invalidates the shared entry: this one keeps its
	// local copy until LocalTTL.
	if _, err := svc.Delete(t.Context(), "auth.ownership", "k"); err != nil {
		t.Fatal(err)
	}
	if d, cached, err := c.Get(t.Context(), "k", load); err != nil || !cached || d != owned {
		t.Fatalf("Get = (%+v, %v, %v), want the local copy", d, cached, err)
	}
	waitLoads(t, c, "k", load, &loads, 2)

	// The local copy of an entry read from the service does not outlive it.
	if _, err := svc.Set(t.Context(), "auth.ownership", "short", Encode(owned), cache.SetOptions{TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	long := newCache(t, Config{LocalTTL: time.Hour}, svc.InProcess())
	defer long.Close()
	if _, cached, err := long.Get(t.Context(), "short", load); err != nil || !cached {
		t.Fatalf("Get = (%v, %v), want a hit from the service", cached, err)
	}
	waitLoads(t, long, "short", load, &loads, 3)

	// Invalidate drops the local copy at once.
	if err := long.Invalidate(t.Context(), "short"); err != nil {
		t.Fatal(err)
	}
	if _, cached, _ := long.Get(t.Context(), "short", load); cached {
		t.Fatal("Get after Invalidate was served from the local copy")
	}
}

// waitLoads calls Get until the loader has run want times in all.
func waitLoads(t *testing.T, c *Cache, key string, load Loader, loads *atomic.Int64, want int64) {
	t.Helper()
	poll.UntilNil(t, 15*time.Second, fmt.Sprintf("%d loads of %q", want, key), func() error {
		n := loads.Load()
		if n >= want {
			return nil
		}
		if _, _, err := c.Get(t.Context(), key, load); err != nil {
			t.Fatal(err)
		}
		return fmt.Errorf("loads = %d, want %d: a copy outlived its TTL", n, want)
	})
}
