package cache

import (
	"context"
	"errors"
	"time"
)

// Entry is one cached value as a backend stores it.
type Entry struct {
	// Key is the entry's key within its namespace.
	Key string
	// Value is the stored bytes; may be empty.
	Value []byte
	// ContentType is the optional media type given at Set.
	ContentType string
	// ExpireTime is when the entry stops being returned.
	ExpireTime time.Time
}

// Size is the entry's size as the contract counts it against the limits:
// len(key) + len(value) + len(content_type).
func (e Entry) Size() uint64 {
	return uint64(len(e.Key) + len(e.Value) + len(e.ContentType))
}

// NamespaceStats are one namespace's counters as a backend reports them.
type NamespaceStats struct {
	Namespace string
	Hits      uint64
	Misses    uint64
	Evictions uint64
	Entries   uint64
	Bytes     uint64
	// LimitBytes is the namespace's size limit; backends leave it zero and
	// the service fills it in.
	LimitBytes uint64
}

// ErrNamespaceFull is returned by Backend.Set when storing the entry would
// take its namespace over the limit it was given, after expired entries of
// the namespace were reclaimed. The previous entry under the key is kept.
var ErrNamespaceFull = errors.New("namespace size limit reached")

// Backend is the store behind the service. Arguments are already validated
// (namespace and key syntax, sizes, TTL). Every method is safe for
// concurrent use. Hits and misses are counted by the backend, so that a
// shared backend (Redis) shares them between instances.
type Backend interface {
	// Kind is "memory" or "redis".
	Kind() string
	// Get returns the live entry under (namespace, key) and counts a hit or
	// a miss.
	Get(ctx context.Context, namespace, key string) (Entry, bool, error)
	// GetMany returns the live entries among keys (distinct), in the order
	// of keys, counting a hit or a miss per key.
	GetMany(ctx context.Context, namespace string, keys []string) ([]Entry, error)
	// Set stores e under namespace, replacing any entry under e.Key, unless
	// the namespace would then hold more than limitBytes (ErrNamespaceFull).
	// Expired entries of the namespace are reclaimed before that check;
	// live ones are never removed to make room.
	Set(ctx context.Context, namespace string, e Entry, limitBytes uint64) error
	// Delete removes one entry; found reports whether a live one was
	// removed.
	Delete(ctx context.Context, namespace, key string) (found bool, err error)
	// Invalidate removes the entries of namespace whose key starts with
	// prefix (every entry when prefix is empty) and returns how many live
	// entries it removed.
	Invalidate(ctx context.Context, namespace, prefix string) (uint64, error)
	// Stats reports namespace, or when it is empty every namespace that
	// holds entries or has counted anything. A namespace asked for by name
	// and never used is reported with zero counters.
	Stats(ctx context.Context, namespace string) ([]NamespaceStats, error)
	// ResetTime is when the counters started.
	ResetTime(ctx context.Context) (time.Time, error)
	// Close releases the backend's resources.
	Close() error
}
