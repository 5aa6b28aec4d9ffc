package access

import (
	"context"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// Key names one cached chain observation: what a holder has of one token
// (or collection) on one chain.
type Key struct {
	ChainID  uint64
	Contract common.Address
	Standard authv1.TokenStandard
	// TokenID is the decimal token id, "" when the rule has none. For
	// ERC-721 a set TokenID means an ownerOf check.
	TokenID string
	Holder  common.Address
}

// Observation is what the chain said, and when.
type Observation struct {
	// Balance is the holder's balance (1 or 0 for an ownerOf check).
	Balance     *big.Int
	BlockNumber uint64
	CheckedAt   time.Time
}

// Cache stores observations for the Evaluator. The Evaluator decides
// freshness itself from CheckedAt (a satisfied rule stays fresh for the
// positive TTL, an unsatisfied one for the shorter negative TTL); ttl in Put
// is how long the store may keep the entry at most. Implementations must be
// safe for concurrent use: SharedCache (the cache service, what auth runs)
// or MemoryCache (one process).
type Cache interface {
	Get(ctx context.Context, k Key) (Observation, bool)
	// Put stores o unless an invalidation at a block later than
	// o.BlockNumber happened for the holder (the read is stale).
	Put(ctx context.Context, k Key, o Observation, ttl time.Duration)
	// Invalidate drops every entry of holders for contract on chainID.
	// fromBlock > 0 also refuses later Puts of observations read before
	// fromBlock, for a while, so a read that raced a transfer cannot
	// re-insert the old answer.
	Invalidate(ctx context.Context, chainID uint64, contract common.Address, fromBlock uint64, holders ...common.Address)
}

// holderKey groups the entries that one transfer invalidates.
type holderKey struct {
	chainID  uint64
	contract common.Address
	holder   common.Address
}

type tokenKey struct {
	standard authv1.TokenStandard
	tokenID  string
}

type memEntry struct {
	obs     Observation
	expires time.Time
}

type floor struct {
	block   uint64
	expires time.Time
}

// MemoryCache is the in-process Cache: tests, and SharedCache's local copy.
type MemoryCache struct {
	now        func() time.Time
	floorTTL   time.Duration
	mu         sync.RWMutex
	entries    map[holderKey]map[tokenKey]memEntry
	floors     map[holderKey]floor
	puts       int
	sweepEvery int
}

// NewMemoryCache returns an empty in-process cache. now may be nil
// (time.Now). floorTTL is how long an invalidation floor is kept: at least
// the longest chain call (default 1 minute).
func NewMemoryCache(now func() time.Time, floorTTL time.Duration) *MemoryCache {
	if now == nil {
		now = time.Now
	}
	if floorTTL <= 0 {
		floorTTL = time.Minute
	}
	return &MemoryCache{
		now:        now,
		floorTTL:   floorTTL,
		entries:    make(map[holderKey]map[tokenKey]memEntry),
		floors:     make(map[holderKey]floor),
		sweepEvery: 4096,
	}
}

func split(k Key) (holderKey, tokenKey) {
	return holderKey{k.ChainID, k.Contract, k.Holder}, tokenKey{k.Standard, k.TokenID}
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, k Key) (Observation, bool) {
	hk, tk := split(k)
	c.mu.RLock()
	e, ok := c.entries[hk][tk]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return Observation{}, false
	}
	return e.obs, true
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, k Key, o Observation, ttl time.Duration) {
	hk, tk := split(k)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.floors[hk]; ok && now.Before(f.expires) && o.BlockNumber < f.block {
		return
	}
	m := c.entries[hk]
	if m == nil {
		m = make(map[tokenKey]memEntry, 1)
		c.entries[hk] = m
	}
	m[tk] = memEntry{obs: o, expires: now.Add(ttl)}
	c.puts++
	if c.puts%c.sweepEvery == 0 {
		c.sweepLocked(now)
	}
}

// Invalidate implements Cache.
func (c *MemoryCache) Invalidate(_ context.Context, chainID uint64, contract common.Address, fromBlock uint64, holders ...common.Address) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range holders {
		hk := holderKey{chainID, contract, h}
		delete(c.entries, hk)
		if fromBlock > 0 {
			if f, ok := c.floors[hk]; !ok || f.block < fromBlock || !now.Before(f.expires) {
				c.floors[hk] = floor{block: fromBlock, expires: now.Add(c.floorTTL)}
			}
		}
	}
}

// Len returns the number of entries held (expired ones included until swept).
func (c *MemoryCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, m := range c.entries {
		n += len(m)
	}
	return n
}

func (c *MemoryCache) sweepLocked(now time.Time) {
	for hk, m := range c.entries {
		for tk, e := range m {
			if !now.Before(e.expires) {
				delete(m, tk)
			}
		}
		if len(m) == 0 {
			delete(c.entries, hk)
		}
	}
	for hk, f := range c.floors {
		if !now.Before(f.expires) {
			delete(c.floors, hk)
		}
	}
}
