package cache_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
	"github.com/streamgate/streamgate/internal/testing/redistest"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
	"github.com/streamgate/streamgate/services/cache/redis"
)

const (
	benchNS  = "bench.ns"
	benchKey = "1:erc721:0xabc:7:0xdef"
)

var benchValue = make([]byte, 64)

func benchService(b *testing.B, backend cache.Backend) *cache.Service {
	b.Helper()
	svc, err := cache.New(cache.Config{}, backend, nil, discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close() })
	if _, err := svc.Set(b.Context(), benchNS, benchKey, benchValue, cache.SetOptions{TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	return svc
}

func benchMemory(b *testing.B) *cache.Service {
	mb, err := memory.New(memory.Config{MaxEntries: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	return benchService(b, mb)
}

// h2cClient serves svc on a loopback h2c listener and returns the generated
// client, as another service in the mesh calls it.
func h2cClient(b *testing.B, svc *cache.Service) cachev1connect.CacheServiceClient {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: mux, Protocols: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { _ = hs.Close() })
	tr := &http.Transport{Protocols: p}
	b.Cleanup(tr.CloseIdleConnections)
	return cachev1connect.NewCacheServiceClient(&http.Client{Transport: tr}, "http://"+ln.Addr().String())
}

func hit(ok bool, err error, b *testing.B) {
	if err != nil || !ok {
		b.Fatalf("Get = (%v, %v), want a hit", ok, err)
	}
}

// BenchmarkGetHit compares a Get hit made four ways in one process: the
// generated Connect client over h2c to a loopback server, the service's
// domain method, the memory backend directly, and the Redis backend
// directly (one round trip to a local redis-server).
func BenchmarkGetHit(b *testing.B) {
	connectGet := func(client cachev1connect.CacheServiceClient) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			res, err := client.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Namespace: benchNS, Key: benchKey}))
			if err != nil {
				return false, err
			}
			return res.Msg.GetFound(), nil
		}
	}
	serviceGet := func(svc *cache.Service) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			_, ok, err := svc.Get(ctx, benchNS, benchKey)
			return ok, err
		}
	}
	backendGet := func(be cache.Backend) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			_, ok, err := be.Get(ctx, benchNS, benchKey)
			return ok, err
		}
	}
	cases := []struct {
		name  string
		setup func(b *testing.B) func(context.Context) (bool, error)
	}{
		{"connect-h2c", func(b *testing.B) func(context.Context) (bool, error) {
			return connectGet(h2cClient(b, benchMemory(b)))
		}},
		{"service", func(b *testing.B) func(context.Context) (bool, error) { return serviceGet(benchMemory(b)) }},
		{"memory-backend", func(b *testing.B) func(context.Context) (bool, error) {
			mb, err := memory.New(memory.Config{MaxEntries: 100_000})
			if err != nil {
				b.Fatal(err)
			}
			benchService(b, mb)
			return backendGet(mb)
		}},
		{"redis-backend", func(b *testing.B) func(context.Context) (bool, error) {
			srv := redistest.Start(b)
			rb, err := redis.New(b.Context(), redis.Config{URL: srv.URL()})
			if err != nil {
				b.Fatal(err)
			}
			benchService(b, rb)
			return backendGet(rb)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			get := c.setup(b)
			b.ReportAllocs()
			for b.Loop() {
				ok, err := get(b.Context())
				hit(ok, err, b)
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			get := c.setup(b)
			ctx := b.Context()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					// Not b.Fatal: this is not the benchmark's goroutine.
					if ok, err := get(ctx); err != nil || !ok {
						b.Errorf("Get = (%v, %v), want a hit", ok, err)
						return
					}
				}
			})
		})
	}
}
