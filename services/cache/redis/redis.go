// Package redis is the cache backend shared by several cache instances: a
// Redis server (go-redis v9) holding each namespace under its own key
// prefix, with Lua scripts keeping a per-namespace index and counters
// consistent with the entries (see scripts.go).
package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/streamgate/streamgate/services/cache"
)

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "streamgate:cache:"

// invalidateBatch is how many keys one HSCAN step and one delete script
// handle during Invalidate.
const invalidateBatch = 500

// Config configures the backend.
type Config struct {
	// URL is the server's redis:// or rediss:// URL. Required.
	URL string
	// Prefix starts every key the backend writes; default DefaultPrefix.
	// Instances sharing a cache use the same prefix.
	Prefix string
}

// Backend is the Redis backend. Build it with New.
type Backend struct {
	rdb    *goredis.Client
	prefix string
}

var _ cache.Backend = (*Backend)(nil)

// New connects to the server and checks that it answers.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.URL == "" {
		return nil, errors.New("redis: a URL is required")
	}
	opts, err := goredis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	b := &Backend{rdb: goredis.NewClient(opts), prefix: cfg.Prefix}
	if _, err := b.ResetTime(ctx); err != nil {
		_ = b.rdb.Close()
		return nil, fmt.Errorf("redis: %s: %w", opts.Addr, err)
	}
	return b, nil
}

// Kind reports "redis".
func (b *Backend) Kind() string { return "redis" }

// keys returns the namespace's index keys (KEYS of every script) and the
// data keys' prefix.
func (b *Backend) keys(ns string) (keys []string, vprefix string) {
	base := b.prefix + "{" + ns + "}:"
	return []string{base + "sz", base + "exp", base + "st"}, base + "v:"
}

// Get returns the live entry under (namespace, key).
func (b *Backend) Get(ctx context.Context, namespace, key string) (cache.Entry, bool, error) {
	es, err := b.GetMany(ctx, namespace, []string{key})
	if err != nil || len(es) == 0 {
		return cache.Entry{}, false, err
	}
	return es[0], true, nil
}

// GetMany returns the live entries among keys, in order, in one round trip.
func (b *Backend) GetMany(ctx context.Context, namespace string, keys []string) ([]cache.Entry, error) {
	ks, vprefix := b.keys(namespace)
	args := make([]any, 0, len(keys)+1)
	args = append(args, vprefix)
	for _, k := range keys {
		args = append(args, k)
	}
	res, err := getScript.Run(ctx, b.rdb, ks, args...).Slice()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if len(res)%3 != 0 {
		return nil, fmt.Errorf("get script returned %d values, want triples", len(res))
	}
	out := make([]cache.Entry, 0, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		key, _ := res[i].(string)
		payload, _ := res[i+1].(string)
		pttl, _ := res[i+2].(int64)
		e, err := decode(key, payload)
		if err != nil {
			return nil, err
		}
		e.ExpireTime = now.Add(time.Duration(pttl) * time.Millisecond)
		out = append(out, e)
	}
	return out, nil
}

// Set stores e unless the namespace would then hold more than limit bytes.
func (b *Backend) Set(ctx context.Context, namespace string, e cache.Entry, limit uint64) error {
	if len(e.ContentType) > 255 {
		return fmt.Errorf("content type of %d bytes: at most 255", len(e.ContentType))
	}
	ttl := time.Until(e.ExpireTime)
	ms := (ttl + time.Millisecond - 1) / time.Millisecond // round up: never 0
	if ms < 1 {
		ms = 1
	}
	ks, vprefix := b.keys(namespace)
	stored, err := setScript.Run(ctx, b.rdb, ks, vprefix, e.Key, encode(e), int64(ms), e.Size(), limit).Int()
	if err != nil {
		return err
	}
	if stored == 0 {
		return cache.ErrNamespaceFull
	}
	return nil
}

// Delete removes one entry.
func (b *Backend) Delete(ctx context.Context, namespace, key string) (bool, error) {
	ks, vprefix := b.keys(namespace)
	n, err := deleteScript.Run(ctx, b.rdb, ks, vprefix, key).Int()
	return n > 0, err
}

// Invalidate removes the entries of namespace whose key starts with prefix
// (all when it is empty). It walks the namespace's own index with HSCAN
// rather than the whole keyspace with SCAN, and deletes (UNLINK) in
// batches of invalidateBatch, each batch atomically with its accounting.
func (b *Backend) Invalidate(ctx context.Context, namespace, prefix string) (uint64, error) {
	ks, vprefix := b.keys(namespace)
	match := globEscape(prefix) + "*"
	var removed uint64
	var cursor uint64
	for {
		// HSCAN ... NOVALUES needs Redis 7.4: take every other element.
		kv, next, err := b.rdb.HScan(ctx, ks[0], cursor, match, invalidateBatch).Result()
		if err != nil {
			return removed, err
		}
		if len(kv) > 0 {
			args := make([]any, 0, len(kv)/2+1)
			args = append(args, vprefix)
			for i := 0; i < len(kv); i += 2 {
				args = append(args, kv[i])
			}
			n, err := deleteScript.Run(ctx, b.rdb, ks, args...).Uint64()
			if err != nil {
				return removed, err
			}
			removed += n
		}
		if next == 0 {
			return removed, nil
		}
		cursor = next
	}
}

// Stats reports namespace, or every namespace with counters when it is
// empty (found with SCAN on the counters' keys).
func (b *Backend) Stats(ctx context.Context, namespace string) ([]cache.NamespaceStats, error) {
	names := []string{namespace}
	if namespace == "" {
		var err error
		if names, err = b.namespaces(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]cache.NamespaceStats, 0, len(names))
	for _, ns := range names {
		ks, vprefix := b.keys(ns)
		vals, err := statsScript.Run(ctx, b.rdb, ks, vprefix).Slice()
		if err != nil {
			return nil, err
		}
		if len(vals) != 5 {
			return nil, fmt.Errorf("stats script returned %d values, want 5", len(vals))
		}
		n := make([]uint64, 5)
		for i, v := range vals {
			s, _ := v.(string)
			if s == "" {
				continue
			}
			x, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("stats of %q: %w", ns, err)
			}
			n[i] = uint64(max(x, 0))
		}
		out = append(out, cache.NamespaceStats{Namespace: ns, Hits: n[0], Misses: n[1], Evictions: n[2], Entries: n[3], Bytes: n[4]})
	}
	return out, nil
}

func (b *Backend) namespaces(ctx context.Context) ([]string, error) {
	head := b.prefix + "{"
	const tail = "}:st"
	var names []string
	iter := b.rdb.Scan(ctx, 0, globEscape(head)+"*"+tail, 1000).Iterator()
	seen := map[string]bool{}
	for iter.Next(ctx) {
		k := iter.Val()
		ns := strings.TrimSuffix(strings.TrimPrefix(k, head), tail)
		if cache.ValidateNamespace(ns) == nil && !seen[ns] {
			seen[ns] = true
			names = append(names, ns)
		}
	}
	return names, iter.Err()
}

// ResetTime is when the counters under this prefix were first created.
func (b *Backend) ResetTime(ctx context.Context) (time.Time, error) {
	ms, err := resetScript.Run(ctx, b.rdb, []string{b.prefix + "reset"}).Int64()
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// Close closes the connection pool.
func (b *Backend) Close() error { return b.rdb.Close() }

func encode(e cache.Entry) string {
	var sb strings.Builder
	sb.Grow(1 + len(e.ContentType) + len(e.Value))
	sb.WriteByte(byte(len(e.ContentType)))
	sb.WriteString(e.ContentType)
	sb.Write(e.Value)
	return sb.String()
}

func decode(key, payload string) (cache.Entry, error) {
	if len(payload) < 1 || len(payload) < 1+int(payload[0]) {
		return cache.Entry{}, fmt.Errorf("entry %q: malformed payload of %d bytes", key, len(payload))
	}
	n := int(payload[0])
	return cache.Entry{Key: key, ContentType: payload[1 : 1+n], Value: []byte(payload[1+n:])}, nil
}

// globEscape quotes the glob metacharacters of SCAN/HSCAN MATCH.
func globEscape(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\', '^', '-':
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}
