// Package memory is the in-process cache backend: one otter (W-TinyLFU)
// cache shared by every namespace, with a per-entry expiry and exact
// per-namespace byte accounting.
package memory

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/streamgate/streamgate/services/cache"
)

// Config configures the backend.
type Config struct {
	// MaxEntries is the capacity across namespaces; beyond it otter evicts
	// the entries least likely to be read again. Required (> 0).
	MaxEntries int
}

// Backend is the in-process backend. Its zero value is not usable: call New.
type Backend struct {
	c     *otter.Cache[nsKey, *item]
	start time.Time
	now   func() time.Time

	// nss maps a namespace name to its *nsState; read on every call, so a
	// sync.Map rather than a mutex-guarded map.
	nss sync.Map
}

var _ cache.Backend = (*Backend)(nil)

// nsKey addresses an entry in the shared otter cache.
type nsKey struct {
	ns, key string
}

// item is a stored entry. Items are never modified after they are stored;
// a Set stores a new one.
type item struct {
	ns          *nsState
	value       []byte
	contentType string
	expire      time.Time
	size        uint64
}

// nsState holds one namespace's index and counters.
type nsState struct {
	name string

	// mu serializes the writes of the namespace (Set, Delete, Invalidate,
	// reclaim) and guards keys and nextExpire. It is never held by code
	// that otter runs under its own locks.
	mu sync.Mutex
	// keys is every item of the namespace that otter may still hold, so
	// that Invalidate and reclaim visit only this namespace. An item
	// leaves it when it is deleted, replaced, evicted or expired.
	keys map[string]*item
	// nextExpire is no later than the earliest expiry among keys: until
	// then a reclaim finds nothing.
	nextExpire time.Time

	// Changed under otter's bucket locks (OnAtomicDeletion) and by Set, so
	// they are atomics.
	bytes     atomic.Int64
	entries   atomic.Int64
	hits      atomic.Uint64
	misses    atomic.Uint64
	evictions atomic.Uint64
}

// New returns an in-process backend. Close stops otter's goroutines.
func New(cfg Config) (*Backend, error) {
	if cfg.MaxEntries <= 0 {
		return nil, errors.New("memory: MaxEntries must be positive")
	}
	b := &Backend{start: time.Now(), now: time.Now}
	c, err := otter.New(&otter.Options[nsKey, *item]{
		MaximumSize: cfg.MaxEntries,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[nsKey, *item]) time.Duration {
			return time.Until(e.Value.expire)
		}),
		// Runs under the bucket lock of the removed entry: atomics only.
		OnAtomicDeletion: func(e otter.DeletionEvent[nsKey, *item]) {
			it := e.Value
			it.ns.bytes.Add(-int64(it.size))
			it.ns.entries.Add(-1)
			if e.Cause == otter.CauseOverflow {
				it.ns.evictions.Add(1)
			}
		},
		// Runs on its own goroutine, outside otter's locks: drop evicted
		// and expired items from the namespace index. Deletes, replacements
		// and invalidations update the index themselves.
		OnDeletion: func(e otter.DeletionEvent[nsKey, *item]) {
			if e.Cause != otter.CauseOverflow && e.Cause != otter.CauseExpiration {
				return
			}
			ns := e.Value.ns
			ns.mu.Lock()
			if ns.keys[e.Key.key] == e.Value {
				delete(ns.keys, e.Key.key)
			}
			ns.mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	b.c = c
	return b, nil
}

// Kind reports "memory".
func (b *Backend) Kind() string { return "memory" }

func (b *Backend) ns(name string) *nsState {
	if ns, ok := b.nss.Load(name); ok {
		return ns.(*nsState)
	}
	ns, _ := b.nss.LoadOrStore(name, &nsState{name: name, keys: map[string]*item{}})
	return ns.(*nsState)
}

func (b *Backend) lookup(ns *nsState, key string) (cache.Entry, bool) {
	it, ok := b.c.GetIfPresent(nsKey{ns.name, key})
	if !ok || !b.now().Before(it.expire) {
		ns.misses.Add(1)
		return cache.Entry{}, false
	}
	ns.hits.Add(1)
	return cache.Entry{Key: key, Value: it.value, ContentType: it.contentType, ExpireTime: it.expire}, true
}

// Get returns the live entry under (namespace, key).
func (b *Backend) Get(_ context.Context, namespace, key string) (cache.Entry, bool, error) {
	e, ok := b.lookup(b.ns(namespace), key)
	return e, ok, nil
}

// GetMany returns the live entries among keys, in order.
func (b *Backend) GetMany(_ context.Context, namespace string, keys []string) ([]cache.Entry, error) {
	ns := b.ns(namespace)
	var out []cache.Entry
	for _, k := range keys {
		if e, ok := b.lookup(ns, k); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// Set stores e unless the namespace would then hold more than limit bytes.
// The stored value is a copy of e.Value.
func (b *Backend) Set(_ context.Context, namespace string, e cache.Entry, limit uint64) error {
	ns := b.ns(namespace)
	it := &item{ns: ns, value: clone(e.Value), contentType: e.ContentType, expire: e.ExpireTime, size: e.Size()}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if !b.fits(ns, e.Key, it.size, limit) {
		b.reclaimLocked(ns)
		if !b.fits(ns, e.Key, it.size, limit) {
			return cache.ErrNamespaceFull
		}
	}
	// Counted before otter can see the item, so that its removal (which
	// may come at once: W-TinyLFU may refuse a newcomer) never takes the
	// counters below zero.
	ns.bytes.Add(int64(it.size))
	ns.entries.Add(1)
	ns.keys[e.Key] = it
	if it.expire.Before(ns.nextExpire) || ns.nextExpire.IsZero() {
		ns.nextExpire = it.expire
	}
	b.c.Set(nsKey{ns.name, e.Key}, it)
	return nil
}

// fits reports whether replacing key's entry with size bytes keeps ns
// within limit. Called with ns.mu held.
func (b *Backend) fits(ns *nsState, key string, size, limit uint64) bool {
	cur := max(ns.bytes.Load(), 0)
	if old, ok := ns.keys[key]; ok {
		if _, live := b.c.GetEntryQuietly(nsKey{ns.name, key}); live {
			cur -= int64(old.size)
		}
	}
	return uint64(max(cur, 0))+size <= limit
}

// reclaimLocked removes the expired entries of ns that otter has not
// removed yet (its timer wheel works in steps of about a second). Called
// with ns.mu held.
func (b *Backend) reclaimLocked(ns *nsState) {
	now := b.now()
	if now.Before(ns.nextExpire) {
		return
	}
	var next time.Time
	for k, it := range ns.keys {
		if !now.Before(it.expire) {
			b.c.Invalidate(nsKey{ns.name, k})
			delete(ns.keys, k)
			continue
		}
		if next.IsZero() || it.expire.Before(next) {
			next = it.expire
		}
	}
	ns.nextExpire = next
}

// Delete removes one entry.
func (b *Backend) Delete(_ context.Context, namespace, key string) (bool, error) {
	ns := b.ns(namespace)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	it, ok := b.c.Invalidate(nsKey{ns.name, key})
	delete(ns.keys, key)
	return ok && b.now().Before(it.expire), nil
}

// Invalidate removes the entries of namespace whose key starts with prefix
// (all of them when prefix is empty).
func (b *Backend) Invalidate(_ context.Context, namespace, prefix string) (uint64, error) {
	ns := b.ns(namespace)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	now := b.now()
	var n uint64
	for k := range ns.keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if it, ok := b.c.Invalidate(nsKey{ns.name, k}); ok && now.Before(it.expire) {
			n++
		}
		delete(ns.keys, k)
	}
	return n, nil
}

// Stats reports namespace, or every namespace in use when it is empty.
func (b *Backend) Stats(_ context.Context, namespace string) ([]cache.NamespaceStats, error) {
	var nss []*nsState
	if namespace != "" {
		ns, ok := b.nss.Load(namespace)
		if !ok {
			return []cache.NamespaceStats{{Namespace: namespace}}, nil
		}
		nss = []*nsState{ns.(*nsState)}
	} else {
		b.nss.Range(func(_, ns any) bool {
			nss = append(nss, ns.(*nsState))
			return true
		})
	}
	out := make([]cache.NamespaceStats, 0, len(nss))
	for _, ns := range nss {
		ns.mu.Lock()
		b.reclaimLocked(ns)
		ns.mu.Unlock()
		out = append(out, cache.NamespaceStats{
			Namespace: ns.name,
			Hits:      ns.hits.Load(),
			Misses:    ns.misses.Load(),
			Evictions: ns.evictions.Load(),
			Entries:   uint64(max(ns.entries.Load(), 0)),
			Bytes:     uint64(max(ns.bytes.Load(), 0)),
		})
	}
	return out, nil
}

// ResetTime is when the backend was created.
func (b *Backend) ResetTime(context.Context) (time.Time, error) { return b.start, nil }

// Close stops otter's background goroutines. Entries stay readable.
func (b *Backend) Close() error {
	b.c.StopAllGoroutines()
	return nil
}

func clone(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return append([]byte(nil), v...)
}
