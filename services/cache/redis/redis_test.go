package redis_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/streamgate/streamgate/internal/testing/redistest"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/cachetest"
	"github.com/streamgate/streamgate/services/cache/redis"
)

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	cachetest.Run(t, func(t *testing.T) cache.Backend {
		// One server, a fresh prefix per subtest.
		b, err := redis.New(t.Context(), redis.Config{URL: srv.URL(), Prefix: fmt.Sprintf("t%d:", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func newBackend(t *testing.T, url, prefix string) *redis.Backend {
	t.Helper()
	b, err := redis.New(t.Context(), redis.Config{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Two backends on one prefix are two cache instances sharing entries and
// counters.
func TestSharedBetweenInstances(t *testing.T) {
	srv := redistest.Start(t)
	a := newBackend(t, srv.URL(), "shared:")
	b := newBackend(t, srv.URL(), "shared:")
	ctx := t.Context()
	if err := a.Set(ctx, "ns", cache.Entry{Key: "k", Value: []byte("v"), ExpireTime: time.Now().Add(time.Minute)}, 1<<20); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := b.Get(ctx, "ns", "k"); err != nil || !ok || string(e.Value) != "v" {
		t.Fatalf("Get on the other instance = (%q, %v, %v), want (v, true, nil)", e.Value, ok, err)
	}
	st, err := a.Stats(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Hits != 1 || st[0].Entries != 1 {
		t.Errorf("stats seen by the writer = %+v, want the reader's hit and one entry", st[0])
	}
	ra, _ := a.ResetTime(ctx)
	rb, _ := b.ResetTime(ctx)
	if !ra.Equal(rb) {
		t.Errorf("reset times differ: %v vs %v", ra, rb)
	}
}

// A data key that disappears before its expiry (Redis evicting under
// maxmemory) is counted as an eviction at the next read, and counted out.
func TestEvictionDetectedOnRead(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, srv.URL(), "ev:")
	ctx := t.Context()
	if err := b.Set(ctx, "ns", cache.Entry{Key: "k", Value: []byte("vv"), ExpireTime: time.Now().Add(time.Minute)}, 1<<20); err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer raw.Close()
	if n, err := raw.Del(ctx, "ev:{ns}:v:k").Result(); err != nil || n != 1 {
		t.Fatalf("DEL data key = (%d, %v); the key layout changed?", n, err)
	}
	if _, ok, err := b.Get(ctx, "ns", "k"); err != nil || ok {
		t.Fatalf("Get = (%v, %v), want a miss", ok, err)
	}
	st, err := b.Stats(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	want := cache.NamespaceStats{Namespace: "ns", Misses: 1, Evictions: 1}
	if st[0] != want {
		t.Errorf("stats = %+v, want %+v", st[0], want)
	}
}

func TestUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, srv.URL(), "down:")
	// A server that is not there: New fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := redis.New(ctx, redis.Config{URL: "redis://" + addr}); err == nil {
		t.Fatal("New against a closed port succeeded")
	}
	// A closed client fails its calls with an error, not a miss.
	_ = b.Close()
	if _, _, err := b.Get(ctx, "ns", "k"); err == nil {
		t.Fatal("Get on a closed backend succeeded")
	}
}
