package cache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
	"github.com/streamgate/streamgate/internal/testing/redistest"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
	"github.com/streamgate/streamgate/services/cache/redis"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig has small limits so that tests reach them cheaply.
func testConfig() cache.Config {
	return cache.Config{
		MaxTTL:            time.Hour,
		DefaultTTL:        time.Minute,
		MaxEntryBytes:     1000,
		MaxNamespaceBytes: 1 << 20,
		NamespaceBytes:    map[string]uint64{"small": 100},
		MaxResponseBytes:  1500,
	}
}

// serve runs svc behind a real HTTP server and returns a generated client.
func serve(t *testing.T, svc *cache.Service) cachev1connect.CacheServiceClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(svc.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return cachev1connect.NewCacheServiceClient(srv.Client(), srv.URL)
}

type backendCase struct {
	name string
	new  func(t *testing.T) cache.Backend
}

func backends() []backendCase {
	var redisSrv *redistest.Server
	var n atomic.Int64
	return []backendCase{
		{"memory", func(t *testing.T) cache.Backend {
			b, err := memory.New(memory.Config{MaxEntries: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"redis", func(t *testing.T) cache.Backend {
			if redisSrv == nil {
				redisSrv = redistest.Start(t)
			}
			b, err := redis.New(t.Context(), redis.Config{URL: redisSrv.URL(), Prefix: fmt.Sprintf("svc%d:", n.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
}

func newService(t *testing.T, cfg cache.Config, b cache.Backend) *cache.Service {
	t.Helper()
	svc, err := cache.New(cfg, b, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func wantCode(t *testing.T, what string, err error, want connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != want {
		t.Errorf("%s: err = %v (code %v), want code %v", what, err, got, want)
	}
}

// TestOverConnect runs the RPCs through a real HTTP server and the
// generated client, on both backends.
func TestOverConnect(t *testing.T) {
	for _, bc := range backends() {
		t.Run(bc.name, func(t *testing.T) {
			client := serve(t, newService(t, testConfig(), bc.new(t)))
			ctx := t.Context()
			t.Run("SetGetDelete", func(t *testing.T) { testSetGetDelete(ctx, t, client) })
			t.Run("Validation", func(t *testing.T) { testValidation(ctx, t, client) })
			t.Run("TTL", func(t *testing.T) { testTTL(ctx, t, client) })
			t.Run("Limits", func(t *testing.T) { testLimits(ctx, t, client) })
			t.Run("GetMany", func(t *testing.T) { testGetMany(ctx, t, client) })
			t.Run("Invalidate", func(t *testing.T) { testInvalidate(ctx, t, client) })
			t.Run("GetStats", func(t *testing.T) { testGetStats(ctx, t, client, bc.name) })
			t.Run("Expiry", func(t *testing.T) { testExpiry(ctx, t, client) })
		})
	}
}

func set(ctx context.Context, client cachev1connect.CacheServiceClient, req *cachev1.SetRequest) (*cachev1.SetResponse, error) {
	res, err := client.Set(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func get(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient, ns, key string) *cachev1.GetResponse {
	t.Helper()
	res, err := client.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Namespace: ns, Key: key}))
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	return res.Msg
}

func testSetGetDelete(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	if g := get(ctx, t, client, "svc.basic", "k"); g.GetFound() || g.GetExpireTime() != nil || g.GetTtl() != nil {
		t.Fatalf("Get before Set = %v, want an empty miss", g)
	}
	before := time.Now()
	res, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.basic", Key: "k", Value: []byte("hello"), ContentType: "text/plain", Ttl: durationpb.New(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if exp := res.GetExpireTime().AsTime(); exp.Before(before.Add(30*time.Second)) || exp.After(time.Now().Add(30*time.Second)) {
		t.Errorf("expire_time = %v, want now + 30s", exp)
	}
	g := get(ctx, t, client, "svc.basic", "k")
	if !g.GetFound() || string(g.GetValue()) != "hello" || g.GetContentType() != "text/plain" {
		t.Fatalf("Get = %v, want hello as text/plain", g)
	}
	if ttl := g.GetTtl().AsDuration(); ttl <= 25*time.Second || ttl > 30*time.Second {
		t.Errorf("ttl = %v, want just under 30s", ttl)
	}
	del, err := client.Delete(ctx, connect.NewRequest(&cachev1.DeleteRequest{Namespace: "svc.basic", Key: "k"}))
	if err != nil || !del.Msg.GetFound() {
		t.Fatalf("Delete = (%v, %v), want found", del, err)
	}
	del, err = client.Delete(ctx, connect.NewRequest(&cachev1.DeleteRequest{Namespace: "svc.basic", Key: "k"}))
	if err != nil || del.Msg.GetFound() {
		t.Fatalf("Delete again = (%v, %v), want not found, no error", del, err)
	}
}

func testValidation(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name string
		call func() error
	}{
		{"empty namespace", func() error { _, err := client.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Key: "k"})); return err }},
		{"namespace 65 chars", func() error {
			_, err := client.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Namespace: long, Key: "k"}))
			return err
		}},
		{"uppercase namespace", func() error {
			_, err := client.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Namespace: "Auth", Key: "k"}))
			return err
		}},
		{"namespace with slash", func() error {
			_, err := client.Delete(ctx, connect.NewRequest(&cachev1.DeleteRequest{Namespace: "a/b", Key: "k"}))
			return err
		}},
		{"namespace with hash tag brace", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "a}b", Key: "k"})
			return err
		}},
		{"empty key", func() error {
			_, err := client.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Namespace: "ns"}))
			return err
		}},
		{"key 513 bytes", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "ns", Key: strings.Repeat("k", 513)})
			return err
		}},
		{"content type 128 chars", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "ns", Key: "k", ContentType: strings.Repeat("c", 128)})
			return err
		}},
		{"content type with newline", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "ns", Key: "k", ContentType: "text/plain\r\nX: y"})
			return err
		}},
		{"negative ttl", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "ns", Key: "k", Ttl: durationpb.New(-time.Second)})
			return err
		}},
		{"ttl under a second", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "ns", Key: "k", Ttl: durationpb.New(500 * time.Millisecond)})
			return err
		}},
		{"malformed ttl", func() error {
			_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "ns", Key: "k", Ttl: &durationpb.Duration{Seconds: 1, Nanos: -5}})
			return err
		}},
		{"stats of a malformed namespace", func() error {
			_, err := client.GetStats(ctx, connect.NewRequest(&cachev1.GetStatsRequest{Namespace: "NO"}))
			return err
		}},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.call(), connect.CodeInvalidArgument)
	}
	// Nothing was stored by the refused Sets.
	if g := get(ctx, t, client, "ns", "k"); g.GetFound() {
		t.Errorf("a refused Set stored an entry: %v", g)
	}
}

func testTTL(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	tests := []struct {
		name string
		ttl  *durationpb.Duration
		want time.Duration
	}{
		{"unset: default", nil, time.Minute},
		{"zero: default", durationpb.New(0), time.Minute},
		{"exactly a second", durationpb.New(time.Second), time.Second},
		{"over the max: capped", durationpb.New(48 * time.Hour), time.Hour},
	}
	for _, tt := range tests {
		before := time.Now()
		res, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.ttl", Key: tt.name, Ttl: tt.ttl})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		exp := res.GetExpireTime().AsTime()
		if exp.Before(before.Add(tt.want)) || exp.After(time.Now().Add(tt.want)) {
			t.Errorf("%s: expire_time = now + %v, want now + %v", tt.name, exp.Sub(before), tt.want)
		}
	}
}

func testLimits(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	// Entry limit (1000): key + value + content type.
	_, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.limits", Key: "k", Value: make([]byte, 990), ContentType: "0123456789"})
	wantCode(t, "entry of 1001 bytes", err, connect.CodeResourceExhausted)
	if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.limits", Key: "k", Value: make([]byte, 989), ContentType: "0123456789"}); err != nil {
		t.Errorf("entry of exactly 1000 bytes: %v", err)
	}
	// Namespace "small" holds 100 bytes.
	if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: "small", Key: "a", Value: make([]byte, 59)}); err != nil {
		t.Fatal(err)
	}
	_, err = set(ctx, client, &cachev1.SetRequest{Namespace: "small", Key: "b", Value: make([]byte, 59)})
	wantCode(t, "namespace full", err, connect.CodeResourceExhausted)
	if !strings.Contains(err.Error(), "small") {
		t.Errorf("namespace full error %q does not name the namespace", err)
	}
	_, err = set(ctx, client, &cachev1.SetRequest{Namespace: "small", Key: "a", Value: []byte("replacement that is much too long"), Ttl: durationpb.New(time.Minute)})
	if err != nil {
		t.Fatalf("a smaller replacement fits: %v", err)
	}
	_, err = set(ctx, client, &cachev1.SetRequest{Namespace: "small", Key: "a", Value: make([]byte, 100)})
	wantCode(t, "replacement over the namespace limit", err, connect.CodeResourceExhausted)
	if g := get(ctx, t, client, "small", "a"); string(g.GetValue()) != "replacement that is much too long" {
		t.Errorf("after a refused replacement Get = %q, want the previous entry", g.GetValue())
	}
}

func testGetMany(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	for _, k := range []string{"a", "b"} {
		if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.many", Key: k, Value: []byte("v" + k), ContentType: "x/y"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: "svc.many", Keys: []string{"b", "z", "a", "b", "z"}}))
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	for _, e := range res.Msg.GetEntries() {
		hits = append(hits, e.GetKey()+"="+string(e.GetValue())+"/"+e.GetContentType())
		if e.GetTtl().AsDuration() <= 0 || e.GetExpireTime() == nil {
			t.Errorf("entry %q has no ttl or expire_time", e.GetKey())
		}
	}
	if got := fmt.Sprint(hits, res.Msg.GetMissingKeys()); got != "[b=vb/x/y a=va/x/y] [z]" {
		t.Errorf("GetMany = %s, want [b=vb/x/y a=va/x/y] [z]", got)
	}
	_, err = client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: "svc.many"}))
	wantCode(t, "no keys", err, connect.CodeInvalidArgument)
	_, err = client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: "svc.many", Keys: make([]string, 101)}))
	wantCode(t, "101 keys", err, connect.CodeInvalidArgument)
	_, err = client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: "svc.many", Keys: []string{"a", ""}}))
	wantCode(t, "an empty key", err, connect.CodeInvalidArgument)
	// Two entries of 900 bytes are over the 1500-byte response limit.
	for _, k := range []string{"big1", "big2"} {
		if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.many", Key: k, Value: make([]byte, 896)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: "svc.many", Keys: []string{"big1", "big2"}}))
	wantCode(t, "hits over the response limit", err, connect.CodeResourceExhausted)
}

func testInvalidate(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	for _, k := range []string{"user:1", "user:2", "video:1"} {
		if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.inv", Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.Invalidate(ctx, connect.NewRequest(&cachev1.InvalidateRequest{Namespace: "svc.inv"}))
	wantCode(t, "neither prefix nor all", err, connect.CodeInvalidArgument)
	_, err = client.Invalidate(ctx, connect.NewRequest(&cachev1.InvalidateRequest{Namespace: "svc.inv", KeyPrefix: "user:", AllKeys: true}))
	wantCode(t, "both prefix and all", err, connect.CodeInvalidArgument)
	if g := get(ctx, t, client, "svc.inv", "user:1"); !g.GetFound() {
		t.Fatal("a refused Invalidate removed entries")
	}
	res, err := client.Invalidate(ctx, connect.NewRequest(&cachev1.InvalidateRequest{Namespace: "svc.inv", KeyPrefix: "user:"}))
	if err != nil || res.Msg.GetRemovedCount() != 2 {
		t.Fatalf("Invalidate user: = (%v, %v), want 2 removed", res, err)
	}
	if g := get(ctx, t, client, "svc.inv", "video:1"); !g.GetFound() {
		t.Error("Invalidate user: removed video:1")
	}
	res, err = client.Invalidate(ctx, connect.NewRequest(&cachev1.InvalidateRequest{Namespace: "svc.inv", AllKeys: true}))
	if err != nil || res.Msg.GetRemovedCount() != 1 {
		t.Fatalf("Invalidate all = (%v, %v), want 1 removed", res, err)
	}
}

func testGetStats(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient, backend string) {
	for _, ns := range []string{"svc.st-b", "svc.st-a"} {
		if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: ns, Key: "k", Value: []byte("12345")}); err != nil {
			t.Fatal(err)
		}
		get(ctx, t, client, ns, "k")
		get(ctx, t, client, ns, "absent")
	}
	res, err := client.GetStats(ctx, connect.NewRequest(&cachev1.GetStatsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	st := res.Msg
	wantBackend := map[string]cachev1.Backend{"memory": cachev1.Backend_BACKEND_MEMORY, "redis": cachev1.Backend_BACKEND_REDIS}[backend]
	if st.GetBackend() != wantBackend || st.GetMaxEntryBytes() != 1000 || st.GetDefaultTtl().AsDuration() != time.Minute ||
		st.GetMaxTtl().AsDuration() != time.Hour || st.GetResetTime() == nil {
		t.Errorf("GetStats header = %v", st)
	}
	var names []string
	for _, n := range st.GetNamespaces() {
		names = append(names, n.GetNamespace())
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("namespaces not sorted: %v", names)
		}
	}
	one, err := client.GetStats(ctx, connect.NewRequest(&cachev1.GetStatsRequest{Namespace: "svc.st-a"}))
	if err != nil {
		t.Fatal(err)
	}
	got := one.Msg.GetNamespaces()
	if len(got) != 1 {
		t.Fatalf("GetStats(svc.st-a) = %v, want one namespace", got)
	}
	if n := got[0]; n.GetHits() != 1 || n.GetMisses() != 1 || n.GetEntries() != 1 || n.GetSizeBytes() != 6 || n.GetLimitBytes() != 1<<20 || n.GetEvictions() != 0 {
		t.Errorf("svc.st-a = %v, want 1 hit, 1 miss, 1 entry of 6 bytes, limit 1 MiB", n)
	}
	small, err := client.GetStats(ctx, connect.NewRequest(&cachev1.GetStatsRequest{Namespace: "never.used"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := small.Msg.GetNamespaces(); len(n) != 1 || n[0].GetNamespace() != "never.used" || n[0].GetHits() != 0 || n[0].GetLimitBytes() != 1<<20 {
		t.Errorf("GetStats(never.used) = %v, want zero counters", n)
	}
}

func testExpiry(ctx context.Context, t *testing.T, client cachev1connect.CacheServiceClient) {
	if _, err := set(ctx, client, &cachev1.SetRequest{Namespace: "svc.exp", Key: "k", Ttl: durationpb.New(time.Second)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for get(ctx, t, client, "svc.exp", "k").GetFound() {
		if time.Now().After(deadline) {
			t.Fatal("entry with a 1s TTL still found after 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failing is a backend whose every call fails, as an unreachable Redis
// does.
type failing struct{ cache.Backend }

var errDown = errors.New("dial tcp 10.0.0.7:6379: connect: connection refused")

func (failing) Kind() string { return "redis" }
func (failing) Get(context.Context, string, string) (cache.Entry, bool, error) {
	return cache.Entry{}, false, errDown
}
func (failing) Set(context.Context, string, cache.Entry, uint64) error { return errDown }
func (failing) Close() error                                           { return nil }

func TestBackendDownIsUnavailable(t *testing.T) {
	client := serve(t, newService(t, testConfig(), failing{}))
	_, err := client.Get(t.Context(), connect.NewRequest(&cachev1.GetRequest{Namespace: "ns", Key: "k"}))
	wantCode(t, "Get", err, connect.CodeUnavailable)
	if err != nil && strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("the internal cause reached the client: %v", err)
	}
	_, err = set(t.Context(), client, &cachev1.SetRequest{Namespace: "ns", Key: "k"})
	wantCode(t, "Set", err, connect.CodeUnavailable)
}

func TestConfig(t *testing.T) {
	b, err := memory.New(memory.Config{MaxEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bad := []cache.Config{
		{Backend: "memcached"},
		{Backend: "redis"},
		{MaxTTL: 500 * time.Millisecond},
		{DefaultTTL: 2 * time.Hour, MaxTTL: time.Hour},
		{MaxEntryBytes: 10 << 20, MaxResponseBytes: 1 << 20},
		{NamespaceBytes: map[string]uint64{"Bad": 1}},
	}
	for _, cfg := range bad {
		if _, err := cache.New(cfg, b, nil, discard()); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
	svc, err := cache.New(cache.Config{}, b, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	got := svc.Config()
	if got.Backend != "memory" || got.MaxTTL != 24*time.Hour || got.DefaultTTL != 5*time.Minute ||
		got.MaxEntryBytes != 1<<20 || got.MaxNamespaceBytes != 64<<20 || got.MaxEntries != 100_000 {
		t.Errorf("defaults = %+v", got)
	}
}

// The GetStats counters are exported as OpenTelemetry metrics.
func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b, err := memory.New(memory.Config{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cache.New(testConfig(), b, mp, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := t.Context()
	if _, err := svc.Set(ctx, "m.ns", "k", []byte("v"), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := svc.Get(ctx, "m.ns", "k"); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	values := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				if ns, _ := p.Attributes.Value("cache.namespace"); ns.AsString() == "m.ns" {
					values[m.Name] = p.Value
				}
			}
		}
	}
	want := map[string]int64{
		"streamgate.cache.hits": 3, "streamgate.cache.misses": 0, "streamgate.cache.evictions": 0,
		"streamgate.cache.entries": 1, "streamgate.cache.size": 2, "streamgate.cache.limit": 1 << 20,
	}
	for name, v := range want {
		if got, ok := values[name]; !ok || got != v {
			t.Errorf("%s = %d (reported: %v), want %d", name, got, ok, v)
		}
	}
}
