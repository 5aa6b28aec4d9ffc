// Package ownercache caches auth's ownership decisions (does this wallet
// hold that token, with what balance, at which block) in the cache
// service, with a longer TTL for positive decisions than for negative
// ones, and lets a burst of identical misses make a single chain call
// (golang.org/x/sync/singleflight).
//
// The cache is never the source of truth: a cache that fails or answers
// slowly is a miss, and a decision that cannot be stored is still
// returned.
package ownercache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
)

// Store is what the helper needs from the cache service. Both the
// generated cachev1connect.CacheServiceClient and the in-process
// (*cache.Service).InProcess() satisfy it.
type Store interface {
	Get(context.Context, *connect.Request[cachev1.GetRequest]) (*connect.Response[cachev1.GetResponse], error)
	Set(context.Context, *connect.Request[cachev1.SetRequest]) (*connect.Response[cachev1.SetResponse], error)
	Delete(context.Context, *connect.Request[cachev1.DeleteRequest]) (*connect.Response[cachev1.DeleteResponse], error)
}

// Decision is one ownership check's outcome, as read from the chain.
type Decision struct {
	// Allowed: the address satisfies the rule.
	Allowed bool
	// Balance is the balance read, a decimal uint256 ("1" or "0" for an
	// ERC-721 ownerOf check).
	Balance string
	// BlockNumber is the block the balance was read at.
	BlockNumber uint64
	// CheckedAt is when it was read from the chain.
	CheckedAt time.Time
}

// Loader asks the chain; it runs once per burst of identical misses, with a
// context detached from any one caller and bounded by Config.LoadTimeout.
type Loader func(ctx context.Context) (Decision, error)

// ContentType marks the stored values.
const ContentType = "application/x-streamgate-ownership-v1"

// Config configures the helper. Zero fields take the defaults.
type Config struct {
	// Namespace in the cache service; default "auth.ownership".
	Namespace string
	// PositiveTTL is how long an allowed decision is served from cache;
	// default 60s; at least 1s (the cache's minimum).
	PositiveTTL time.Duration
	// NegativeTTL is how long a denied decision is served from cache;
	// default 10s; at least 1s. Shorter than PositiveTTL so that a viewer
	// who just bought the token is not refused for long.
	NegativeTTL time.Duration
	// CacheTimeout bounds each call to the cache (a slow cache is a miss);
	// default 250ms.
	CacheTimeout time.Duration
	// LoadTimeout bounds one Loader call; default 10s.
	LoadTimeout time.Duration
	// LocalTTL, when positive, keeps decisions in this process too, for at
	// most LocalTTL (and never past their TTL in the cache service), so
	// that a hit costs no network call. An Invalidate or Refresh made by
	// another process reaches this one only when its local copy expires:
	// keep LocalTTL to a few seconds. Zero: no local copy.
	LocalTTL time.Duration
	// LocalMaxEntries caps the local copies; default 100,000.
	LocalMaxEntries int
}

func (c *Config) validate() error {
	if c.Namespace == "" {
		c.Namespace = "auth.ownership"
	}
	if c.PositiveTTL == 0 {
		c.PositiveTTL = 60 * time.Second
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = 10 * time.Second
	}
	if c.CacheTimeout == 0 {
		c.CacheTimeout = 250 * time.Millisecond
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = 10 * time.Second
	}
	if c.PositiveTTL < time.Second || c.NegativeTTL < time.Second {
		return fmt.Errorf("ownercache: TTLs must be at least 1s (positive %v, negative %v)", c.PositiveTTL, c.NegativeTTL)
	}
	if c.LocalMaxEntries == 0 {
		c.LocalMaxEntries = 100_000
	}
	if c.CacheTimeout < 0 || c.LoadTimeout < 0 || c.LocalTTL < 0 || c.LocalMaxEntries < 0 {
		return errors.New("ownercache: negative timeout, TTL or size")
	}
	return nil
}

// Cache is the ownership decision cache.
type Cache struct {
	store  Store
	cfg    Config
	logger *slog.Logger
	group  singleflight.Group
	// local holds decisions in this process when Config.LocalTTL > 0.
	local *otter.Cache[string, localEntry]
	// joined, when set (tests), runs after a caller has joined a load and
	// before it waits for it.
	joined func()
}

// New returns the helper over store.
func New(cfg Config, store Store, logger *slog.Logger) (*Cache, error) {
	if logger == nil {
		return nil, errors.New("ownercache: nil logger")
	}
	if store == nil {
		return nil, errors.New("ownercache: nil store")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Cache{store: store, cfg: cfg, logger: logger}
	if cfg.LocalTTL > 0 {
		local, err := otter.New(&otter.Options[string, localEntry]{
			MaximumSize: cfg.LocalMaxEntries,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, localEntry]) time.Duration {
				return e.Value.ttl
			}),
		})
		if err != nil {
			return nil, err
		}
		c.local = local
	}
	return c, nil
}

// localEntry is a decision kept in this process for ttl.
type localEntry struct {
	d   Decision
	ttl time.Duration
}

func (c *Cache) keepLocal(key string, d Decision, ttl time.Duration) {
	if c.local == nil || ttl <= 0 {
		return
	}
	c.local.Set(key, localEntry{d: d, ttl: min(ttl, c.cfg.LocalTTL)})
}

// Close stops the local copy's background goroutines, if any.
func (c *Cache) Close() {
	if c.local != nil {
		c.local.StopAllGoroutines()
	}
}

// Key builds the cache key of one rule check: chain, token standard,
// contract, token id (empty for ERC-20) and holder. Addresses are compared
// case-insensitively.
func Key(chainID uint64, standard, contract, tokenID, holder string) string {
	return strconv.FormatUint(chainID, 10) + ":" + standard + ":" + strings.ToLower(contract) + ":" + tokenID + ":" + strings.ToLower(holder)
}

// Get returns the decision under key: from the cache when it holds one
// (cached = true), otherwise from load, which then runs once for all the
// callers missing the same key at the same time, and whose result is
// stored for the positive or negative TTL. A load error is returned and
// nothing is stored.
func (c *Cache) Get(ctx context.Context, key string, load Loader) (d Decision, cached bool, err error) {
	if c.local != nil {
		if e, ok := c.local.GetIfPresent(key); ok {
			return e.d, true, nil
		}
	}
	if d, ok := c.lookup(ctx, key); ok {
		return d, true, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		return c.loadAndStore(ctx, key, load)
	})
	if c.joined != nil {
		c.joined()
	}
	select {
	case res := <-ch:
		if res.Err != nil {
			return Decision{}, false, res.Err
		}
		return res.Val.(Decision), false, nil
	case <-ctx.Done():
		return Decision{}, false, ctx.Err()
	}
}

// Refresh asks the chain whatever the cache holds (auth's bypass_cache,
// ownership re-verification) and stores the fresh decision.
func (c *Cache) Refresh(ctx context.Context, key string, load Loader) (Decision, error) {
	return c.loadAndStore(ctx, key, load)
}

// Invalidate forgets the decision under key (e.g. on a Transfer event).
func (c *Cache) Invalidate(ctx context.Context, key string) error {
	if c.local != nil {
		c.local.Invalidate(key)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CacheTimeout)
	defer cancel()
	_, err := c.store.Delete(ctx, connect.NewRequest(&cachev1.DeleteRequest{Namespace: c.cfg.Namespace, Key: key}))
	return err
}

func (c *Cache) lookup(ctx context.Context, key string) (Decision, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CacheTimeout)
	defer cancel()
	res, err := c.store.Get(ctx, connect.NewRequest(&cachev1.GetRequest{Namespace: c.cfg.Namespace, Key: key}))
	if err != nil {
		c.logger.WarnContext(ctx, "ownership cache read failed; asking the chain", "err", err)
		return Decision{}, false
	}
	if !res.Msg.GetFound() {
		return Decision{}, false
	}
	d, err := Decode(res.Msg.GetValue())
	if err != nil {
		c.logger.WarnContext(ctx, "ownership cache entry undecodable; asking the chain", "key", key, "err", err)
		return Decision{}, false
	}
	c.keepLocal(key, d, res.Msg.GetTtl().AsDuration())
	return d, true
}

func (c *Cache) loadAndStore(ctx context.Context, key string, load Loader) (Decision, error) {
	// The load serves every caller that joined it: it must not end when
	// the first one gives up.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
	defer cancel()
	d, err := load(lctx)
	if err != nil {
		return Decision{}, err
	}
	ttl := c.cfg.NegativeTTL
	if d.Allowed {
		ttl = c.cfg.PositiveTTL
	}
	c.keepLocal(key, d, ttl)
	sctx, scancel := context.WithTimeout(lctx, c.cfg.CacheTimeout)
	defer scancel()
	_, err = c.store.Set(sctx, connect.NewRequest(&cachev1.SetRequest{
		Namespace:   c.cfg.Namespace,
		Key:         key,
		Value:       Encode(d),
		ContentType: ContentType,
		Ttl:         durationpb.New(ttl),
	}))
	if err != nil {
		c.logger.WarnContext(ctx, "ownership cache write failed", "key", key, "err", err)
	}
	return d, nil
}
