package streaming

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/streamgate/streamgate/internal/blob"
)

// segmentCache is a bounded local read-through cache of immutable segment
// objects (init and media segments) for stores without local files (S3).
// A miss fetches the whole object once (one Stat and one Get, shared by
// every concurrent request for the key) into a file of the cache
// directory, written under a temporary name and renamed; hits open that
// file, so the bytes leave by sendfile as with blob.Local. Entries are
// evicted least recently used first to keep the files' total under
// maxBytes; a request that already opened an evicted file keeps reading its
// descriptor. An entry older than revalidate is checked against the store
// (one Stat) before it is used again, which bounds how long a replaced or
// deleted object can be served from the cache.
//
// The index is in memory: the directory is emptied of the cache's own files
// when the cache is built, so a restart starts cold.
type segmentCache struct {
	dir        string
	maxBytes   int64
	maxObject  int64
	revalidate time.Duration
	store      blob.Store
	now        func() time.Time
	logger     *slog.Logger

	fetches singleflight.Group

	mu      sync.Mutex
	entries map[string]*list.Element // key -> element holding *cacheEntry
	lru     list.List                // front: most recently used
	size    int64                    // bytes of the files indexed
}

type cacheEntry struct {
	key     string
	name    string // file path
	info    blob.Info
	checked time.Time // when the store last confirmed info
}

const (
	cacheFilePrefix = "seg-"
	cacheTempPrefix = "tmp-"
	// fetchTimeout bounds one fetch into the cache; it does not follow
	// the request that started it, whose viewer may go away while others
	// wait on the same fetch.
	fetchTimeout = 2 * time.Minute
)

// errTooLarge reports an object the cache does not hold (bigger than
// maxObject); the caller serves it from the store.
var errTooLarge = errors.New("object too large for the segment cache")

func newSegmentCache(dir string, maxBytes, maxObject int64, revalidate time.Duration, store blob.Store, now func() time.Time, logger *slog.Logger) (*segmentCache, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("segment cache: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment cache: %w", err)
	}
	// Only names this cache writes are removed: a misconfigured directory
	// loses nothing else.
	for _, de := range des {
		n := de.Name()
		if de.Type().IsRegular() && (strings.HasPrefix(n, cacheFilePrefix) || strings.HasPrefix(n, cacheTempPrefix)) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return nil, fmt.Errorf("segment cache: %w", err)
			}
		}
	}
	return &segmentCache{
		dir: dir, maxBytes: maxBytes, maxObject: maxObject, revalidate: revalidate,
		store: store, now: now, logger: logger, entries: map[string]*list.Element{},
	}, nil
}

// cacheResult says how open found an object, for the metrics.
type cacheResult int

const (
	cacheHit cacheResult = iota
	cacheMiss
)

// open returns the cached file of key, fetching it on a miss, and the
// object's store description (its size and ModTime make the ETag). It
// returns an error wrapping errTooLarge, with the object's Info, for an
// object the cache does not hold; store errors come back as from the store.
func (c *segmentCache) open(ctx context.Context, key string) (*os.File, blob.Info, cacheResult, error) {
	result := cacheHit
	for range 3 { // a file evicted between its fetch and its open is fetched again
		f, info, stale, ok := c.lookup(key)
		if ok && !stale {
			return f, info, result, nil
		}
		if ok {
			// The file is open, so it can still be served if the store
			// cannot be asked.
			v, err, _ := c.fetches.Do("check\x00"+key, func() (any, error) { return c.revalidateEntry(ctx, key, info) })
			switch {
			case err == nil && v.(bool):
				return f, info, result, nil
			case err != nil && !errors.Is(err, blob.ErrNotFound):
				c.logger.WarnContext(ctx, "segment cache: revalidation failed, serving the cached copy", "key", key, "err", err)
				return f, info, result, nil
			}
			_ = f.Close()
			if err != nil {
				return nil, blob.Info{}, result, err
			}
			// Replaced in the store: fetch it again.
		}
		result = cacheMiss
		v, err, _ := c.fetches.Do("fetch\x00"+key, func() (any, error) { return c.fetch(ctx, key) })
		if err != nil {
			info, _ := v.(blob.Info) // set for errTooLarge
			return nil, info, result, err
		}
	}
	return nil, blob.Info{}, result, fmt.Errorf("segment cache: %s evicted as soon as fetched; the cache is too small for the load", key)
}

// lookup opens the cached file of key and moves it to the front.
func (c *segmentCache) lookup(key string) (f *os.File, info blob.Info, stale, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, blob.Info{}, false, false
	}
	e := el.Value.(*cacheEntry)
	// Opened under the lock, so eviction (which also holds it) cannot
	// remove the file between the lookup and the open.
	f, err := os.Open(e.name)
	if err != nil {
		c.logger.Warn("segment cache: cached file unreadable; dropping it", "key", key, "err", err)
		c.removeLocked(el)
		return nil, blob.Info{}, false, false
	}
	c.lru.MoveToFront(el)
	return f, e.info, c.revalidate > 0 && c.now().Sub(e.checked) >= c.revalidate, true
}

// revalidateEntry asks the store whether key still holds the cached
// object; true if it does (the entry is then fresh again), false if it was
// replaced (the entry is dropped). A missing object drops the entry and
// returns the store's error.
func (c *segmentCache) revalidateEntry(ctx context.Context, key string, cached blob.Info) (any, error) {
	info, err := c.store.Stat(ctx, key)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return false, err
	}
	same := err == nil && info.Size == cached.Size && info.ModTime.Equal(cached.ModTime)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		if same {
			el.Value.(*cacheEntry).checked = c.now()
		} else {
			c.removeLocked(el)
		}
	}
	return same, err
}

// fetch copies key from the store into the cache directory and indexes
// it. Nothing is indexed, and no file is left, unless the whole object was
// read.
func (c *segmentCache) fetch(ctx context.Context, key string) (any, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	info, err := c.store.Stat(ctx, key)
	if err != nil {
		return blob.Info{}, err
	}
	if info.Size > c.maxObject {
		return info, fmt.Errorf("%w: %s is %d bytes", errTooLarge, key, info.Size)
	}
	rc, err := c.store.Get(ctx, key)
	if err != nil {
		return blob.Info{}, err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(c.dir, cacheTempPrefix)
	if err != nil {
		return blob.Info{}, fmt.Errorf("segment cache: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, io.LimitReader(rc, info.Size+1))
	if err != nil {
		return blob.Info{}, fmt.Errorf("read %s: %w", key, err)
	}
	if n != info.Size {
		// Replaced between Stat and Get: the size and ModTime would not
		// describe these bytes.
		return blob.Info{}, fmt.Errorf("read %s: %d bytes, the store said %d", key, n, info.Size)
	}
	if err := tmp.Close(); err != nil {
		return blob.Info{}, fmt.Errorf("segment cache: %w", err)
	}
	sum := sha256.Sum256([]byte(key))
	name := filepath.Join(c.dir, cacheFilePrefix+hex.EncodeToString(sum[:]))

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, found := c.entries[key]; found {
		c.removeLocked(el) // a replaced object being fetched again
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return blob.Info{}, fmt.Errorf("segment cache: %w", err)
	}
	ok = true
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, name: name, info: info, checked: c.now()})
	c.size += info.Size
	for c.size > c.maxBytes && c.lru.Len() > 1 {
		c.removeLocked(c.lru.Back())
	}
	return info, nil
}

// removeLocked drops an entry and its file; c.mu is held. Readers that
// opened the file keep their descriptor.
func (c *segmentCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.size -= e.info.Size
	if err := os.Remove(e.name); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.logger.Warn("segment cache: remove evicted file", "key", e.key, "err", err)
	}
}

// usage reports the number of cached objects and their bytes.
func (c *segmentCache) usage() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.size
}
