package auth

import (
	"context"
	"slices"
	"sync"
	"time"
)

const (
	// maxCachedContentKeys bounds the videos whose keys are held in clear
	// (a few hundred bytes each).
	maxCachedContentKeys = 10_000
	// contentKeyCacheTTL bounds how long this instance may go on
	// releasing keys another instance sharing the database deleted (this
	// instance's own deletes evict at once). ReleaseContentKeys refuses a
	// deleted video before it reads any key, so this matters only for
	// keys deleted while their video still plays.
	contentKeyCacheTTL = 5 * time.Minute
)

// contentKeyCache holds videos' content keys in clear, so that the key
// server's cache-hit path costs no database read and no unseal per
// request: a video's keys never change once made, they only go
// (DeleteContentKeys). It holds keys, never decisions: ReleaseContentKeys
// still asks the access checker on every request. The clear keys add no
// exposure: the KEK that opens every stored key is in memory already.
type contentKeyCache struct {
	now func() time.Time
	ttl time.Duration
	max int

	mu  sync.Mutex
	m   map[string]cachedContentKeys
	gen uint64 // bumped by evict: a read that began before does not fill
}

type cachedContentKeys struct {
	keys  []contentKey
	until time.Time
}

func newContentKeyCache(now func() time.Time, ttl time.Duration, max int) *contentKeyCache {
	return &contentKeyCache{now: now, ttl: ttl, max: max, m: map[string]cachedContentKeys{}}
}

// get returns the video's cached keys, shared: callers must not modify
// the slice. When it misses, gen is to be passed to put with what the
// store returns.
func (c *contentKeyCache) get(videoID string) (keys []contentKey, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[videoID]
	if ok && c.now().Before(e.until) {
		return e.keys, c.gen, true
	}
	return nil, c.gen, false
}

// put caches keys read from the store after get returned gen, unless an
// eviction came in between (the read may predate a delete). Only a whole
// set is kept: a video without keys, or with a scope still being made,
// may get keys later.
func (c *contentKeyCache) put(videoID string, keys []contentKey, gen uint64) {
	for _, scope := range contentKeyScopes {
		if !slices.ContainsFunc(keys, func(k contentKey) bool { return k.Scope == scope }) {
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.m[videoID]; !ok && len(c.m) >= c.max {
		for k := range c.m { // an arbitrary one: map order
			delete(c.m, k)
			break
		}
	}
	c.m[videoID] = cachedContentKeys{keys: slices.Clip(keys), until: c.now().Add(c.ttl)}
}

// evict forgets the video's keys and keeps reads in flight from caching
// what they read before.
func (c *contentKeyCache) evict(videoID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, videoID)
	c.gen++
}

// contentKeys is the store's contentKeys through the cache.
func (s *Service) contentKeys(ctx context.Context, videoID string) ([]contentKey, error) {
	keys, gen, ok := s.keyCache.get(videoID)
	if ok {
		return keys, nil
	}
	keys, err := s.store.contentKeys(ctx, videoID)
	if err != nil {
		return nil, err
	}
	s.keyCache.put(videoID, keys, gen)
	return keys, nil
}
