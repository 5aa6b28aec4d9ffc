package cache

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxTTL            = 24 * time.Hour
	DefaultDefaultTTL        = 5 * time.Minute
	DefaultMaxEntryBytes     = 1 << 20
	DefaultMaxNamespaceBytes = 64 << 20
	DefaultMaxResponseBytes  = 4 << 20
	DefaultMaxEntries        = 100_000
)

// MinTTL is the shortest TTL Set accepts when one is given (the contract:
// "at least 1 second when set").
const MinTTL = time.Second

// Config configures the service. Zero fields take the defaults above.
type Config struct {
	// Backend is "memory" (default) or "redis". The service reports the
	// kind of the Backend it is given; the wiring uses this field to choose
	// which one to build.
	Backend string
	// RedisURL is the redis:// or rediss:// URL of the shared server, for
	// Backend "redis".
	RedisURL string
	// MaxTTL caps every TTL; longer ones are silently capped. Default 24h.
	MaxTTL time.Duration
	// DefaultTTL applies when Set gives none. Default 5m; at most MaxTTL.
	DefaultTTL time.Duration
	// MaxEntryBytes is the largest entry (key + value + content type).
	// Default 1 MiB.
	MaxEntryBytes uint64
	// MaxNamespaceBytes is the size limit of every namespace not listed in
	// NamespaceBytes. Default 64 MiB.
	MaxNamespaceBytes uint64
	// NamespaceBytes overrides MaxNamespaceBytes for the namespaces it
	// names.
	NamespaceBytes map[string]uint64
	// MaxResponseBytes caps the entries one GetMany returns together.
	// Default 4 MiB; at least MaxEntryBytes.
	MaxResponseBytes uint64
	// MaxEntries is the capacity of the memory backend, in entries, across
	// namespaces; beyond it the backend evicts (W-TinyLFU). Default 100,000.
	MaxEntries int
}

func (c *Config) validate() error {
	switch c.Backend {
	case "":
		c.Backend = "memory"
	case "memory", "redis":
	default:
		return fmt.Errorf("cache: unknown backend %q (want memory or redis)", c.Backend)
	}
	if c.Backend == "redis" && c.RedisURL == "" {
		return errors.New("cache: backend redis needs a RedisURL")
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = min(DefaultDefaultTTL, c.MaxTTL)
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if c.MaxNamespaceBytes == 0 {
		c.MaxNamespaceBytes = DefaultMaxNamespaceBytes
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = max(DefaultMaxResponseBytes, c.MaxEntryBytes)
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	switch {
	case c.MaxTTL < MinTTL:
		return fmt.Errorf("cache: MaxTTL %v is under the minimum TTL %v", c.MaxTTL, MinTTL)
	case c.DefaultTTL < MinTTL || c.DefaultTTL > c.MaxTTL:
		return fmt.Errorf("cache: DefaultTTL %v is outside [%v, MaxTTL %v]", c.DefaultTTL, MinTTL, c.MaxTTL)
	case c.MaxResponseBytes < c.MaxEntryBytes:
		return fmt.Errorf("cache: MaxResponseBytes %d is under MaxEntryBytes %d", c.MaxResponseBytes, c.MaxEntryBytes)
	case c.MaxEntries < 0:
		return fmt.Errorf("cache: negative MaxEntries %d", c.MaxEntries)
	}
	for ns := range c.NamespaceBytes {
		if err := ValidateNamespace(ns); err != nil {
			return fmt.Errorf("cache: NamespaceBytes: %w", err)
		}
	}
	return nil
}

// limitFor is the size limit of namespace.
func (c *Config) limitFor(namespace string) uint64 {
	if l, ok := c.NamespaceBytes[namespace]; ok {
		return l
	}
	return c.MaxNamespaceBytes
}
