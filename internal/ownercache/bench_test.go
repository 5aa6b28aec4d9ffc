package ownercache

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
)

// BenchmarkHit is an ownership decision served from cache: auth's target is
// over 100,000 per second. "inprocess": the cache service in the same
// process (its memory backend, no network); "connect": the generated
// client over h2c to a loopback cache server, as across the mesh;
// "connect+local": the same with a 5s local copy (Config.LocalTTL).
func BenchmarkHit(b *testing.B) {
	key := Key(1, "erc721", "0xabc", "7", "0xdef")
	load := func(context.Context) (Decision, error) { return owned, nil }
	stores := []struct {
		name     string
		localTTL time.Duration
		store    func(b *testing.B) Store
	}{
		{"inprocess", 0, func(b *testing.B) Store { return inProcess(b).InProcess() }},
		{"connect", 0, h2cStore},
		{"connect+local", 5 * time.Second, h2cStore},
	}
	for _, s := range stores {
		c := newCache(b, Config{LocalTTL: s.localTTL}, s.store(b))
		b.Cleanup(c.Close)
		if _, _, err := c.Get(b.Context(), key, load); err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		b.Run(s.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, cached, err := c.Get(ctx, key, load); err != nil || !cached {
					b.Fatalf("Get = (%v, %v), want a hit", cached, err)
				}
			}
		})
		b.Run(s.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					// Not b.Fatal: this is not the benchmark's goroutine.
					if _, cached, err := c.Get(ctx, key, load); err != nil || !cached {
						b.Errorf("Get = (%v, %v), want a hit", cached, err)
						return
					}
				}
			})
		})
	}
}

func h2cStore(b *testing.B) Store {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(inProcess(b).Handler())
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: mux, Protocols: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { _ = hs.Close() })
	tr := &http.Transport{Protocols: p}
	b.Cleanup(tr.CloseIdleConnections)
	return cachev1connect.NewCacheServiceClient(&http.Client{Transport: tr}, "http://"+ln.Addr().String())
}
