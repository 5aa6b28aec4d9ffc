// Package cache implements streamgate.cache.v1.CacheService: a shared cache
// with namespaces and TTLs over an in-process (otter, package memory) or
// Redis (package redis) backend.
//
// The domain type, Service, validates input, caps TTLs and enforces the
// entry and namespace size limits; the Backend stores entries and counts
// hits, misses and evictions. The Connect handler is a thin adapter.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/metric"

	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
)

// Service is the cache service.
type Service struct {
	cfg     Config
	backend Backend
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time
}

// New returns the cache service over backend (see packages memory and
// redis). Metrics are registered on mp; nil means none. Close releases the
// backend and the metric callbacks.
func New(cfg Config, backend Backend, mp metric.MeterProvider, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		return nil, errors.New("cache: nil logger")
	}
	if backend == nil {
		return nil, errors.New("cache: nil backend")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, backend: backend, logger: logger, now: time.Now}
	m, err := newMetrics(s, mp)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "cache" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return cachev1connect.CacheServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return cachev1connect.NewCacheServiceHandler(s.InProcess(), opts...)
}

// InProcess returns the service as the generated handler interface, whose
// unary methods are those of the generated client: a caller in the same
// process can use it where it would use a cachev1connect.CacheServiceClient,
// without the network (no interceptors run).
func (s *Service) InProcess() cachev1connect.CacheServiceHandler { return &handler{svc: s} }

// Close unregisters the metrics and closes the backend.
func (s *Service) Close() error {
	return errors.Join(s.metrics.close(), s.backend.Close())
}

// Config returns the effective configuration, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Get returns the live entry under (namespace, key).
func (s *Service) Get(ctx context.Context, namespace, key string) (Entry, bool, error) {
	if err := validateNamespaceKey(namespace, key); err != nil {
		return Entry{}, false, err
	}
	return s.backend.Get(ctx, namespace, key)
}

// GetMany returns the live entries among keys and the keys that missed,
// both in request order with duplicates removed.
func (s *Service) GetMany(ctx context.Context, namespace string, keys []string) (hits []Entry, missing []string, err error) {
	if err := ValidateNamespace(namespace); err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 || len(keys) > MaxGetManyKeys {
		return nil, nil, invalid("keys: want 1 to %d, got %d", MaxGetManyKeys, len(keys))
	}
	distinct := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		if err := validateKey(fmt.Sprintf("keys[%d]", i), k); err != nil {
			return nil, nil, err
		}
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			distinct = append(distinct, k)
		}
	}
	hits, err = s.backend.GetMany(ctx, namespace, distinct)
	if err != nil {
		return nil, nil, err
	}
	var total uint64
	found := make(map[string]struct{}, len(hits))
	for _, e := range hits {
		total += e.Size()
		found[e.Key] = struct{}{}
	}
	if total > s.cfg.MaxResponseBytes {
		return nil, nil, fmt.Errorf("%w: the hits hold %d bytes, over the %d-byte response limit: ask for fewer keys", ErrResponseTooLarge, total, s.cfg.MaxResponseBytes)
	}
	for _, k := range distinct {
		if _, ok := found[k]; !ok {
			missing = append(missing, k)
		}
	}
	return hits, missing, nil
}

// SetOptions are Set's optional arguments.
type SetOptions struct {
	// ContentType is the value's media type; empty for none.
	ContentType string
	// TTL is how long the entry lives: 0 for the default, capped at the
	// maximum, at least MinTTL otherwise.
	TTL time.Duration
}

// Set stores an entry and returns when it expires.
func (s *Service) Set(ctx context.Context, namespace, key string, value []byte, opts SetOptions) (time.Time, error) {
	if err := validateNamespaceKey(namespace, key); err != nil {
		return time.Time{}, err
	}
	if err := validateContentType(opts.ContentType); err != nil {
		return time.Time{}, err
	}
	ttl, err := s.effectiveTTL(opts.TTL)
	if err != nil {
		return time.Time{}, err
	}
	e := Entry{Key: key, Value: value, ContentType: opts.ContentType, ExpireTime: s.now().Add(ttl)}
	if size := e.Size(); size > s.cfg.MaxEntryBytes {
		return time.Time{}, fmt.Errorf("%w: %d bytes (key + value + content_type) over the %d-byte limit", ErrEntryTooLarge, size, s.cfg.MaxEntryBytes)
	}
	limit := s.cfg.limitFor(namespace)
	if err := s.backend.Set(ctx, namespace, e, limit); err != nil {
		if errors.Is(err, ErrNamespaceFull) {
			return time.Time{}, fmt.Errorf("%w: namespace %q holds up to %d bytes", ErrNamespaceFull, namespace, limit)
		}
		return time.Time{}, err
	}
	return e.ExpireTime, nil
}

func (s *Service) effectiveTTL(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl < 0:
		return 0, invalid("ttl %v is negative", ttl)
	case ttl == 0:
		return s.cfg.DefaultTTL, nil
	case ttl < MinTTL:
		return 0, invalid("ttl %v is under the minimum of %v", ttl, MinTTL)
	}
	return min(ttl, s.cfg.MaxTTL), nil
}

// Delete removes one entry; found reports whether a live one was removed.
func (s *Service) Delete(ctx context.Context, namespace, key string) (bool, error) {
	if err := validateNamespaceKey(namespace, key); err != nil {
		return false, err
	}
	return s.backend.Delete(ctx, namespace, key)
}

// Invalidate removes the entries of namespace whose key starts with prefix,
// or all of them when all is true; exactly one must be given.
func (s *Service) Invalidate(ctx context.Context, namespace, prefix string, all bool) (uint64, error) {
	if err := ValidateNamespace(namespace); err != nil {
		return 0, err
	}
	switch {
	case prefix == "" && !all:
		return 0, invalid("give key_prefix or all_keys = true")
	case prefix != "" && all:
		return 0, invalid("give key_prefix or all_keys = true, not both")
	case prefix != "":
		if err := validateKey("key_prefix", prefix); err != nil {
			return 0, err
		}
	}
	return s.backend.Invalidate(ctx, namespace, prefix)
}

// Stats describes the cache and its namespaces.
type Stats struct {
	Backend       string
	Namespaces    []NamespaceStats
	MaxEntryBytes uint64
	DefaultTTL    time.Duration
	MaxTTL        time.Duration
	ResetTime     time.Time
}

// Stats reports namespace, or every namespace in use when it is empty,
// sorted by name.
func (s *Service) Stats(ctx context.Context, namespace string) (Stats, error) {
	if namespace != "" {
		if err := ValidateNamespace(namespace); err != nil {
			return Stats{}, err
		}
	}
	ns, err := s.backend.Stats(ctx, namespace)
	if err != nil {
		return Stats{}, err
	}
	reset, err := s.backend.ResetTime(ctx)
	if err != nil {
		return Stats{}, err
	}
	slices.SortFunc(ns, func(a, b NamespaceStats) int {
		switch {
		case a.Namespace < b.Namespace:
			return -1
		case a.Namespace > b.Namespace:
			return 1
		}
		return 0
	})
	st := Stats{
		Backend:       s.backend.Kind(),
		Namespaces:    ns,
		MaxEntryBytes: s.cfg.MaxEntryBytes,
		DefaultTTL:    s.cfg.DefaultTTL,
		MaxTTL:        s.cfg.MaxTTL,
		ResetTime:     reset,
	}
	for i := range st.Namespaces {
		st.Namespaces[i].LimitBytes = s.cfg.limitFor(st.Namespaces[i].Namespace)
	}
	return st, nil
}

func validateNamespaceKey(namespace, key string) error {
	if err := ValidateNamespace(namespace); err != nil {
		return err
	}
	return ValidateKey(key)
}
