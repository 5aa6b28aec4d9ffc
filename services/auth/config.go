package auth

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/streamgate/streamgate/internal/secretbox"
)

// Config configures the auth service.
type Config struct {
	// Domain is the RFC 3986 authority SIWE messages must name, e.g.
	// "127.0.0.1:8080". Required.
	Domain string
	// URI SIWE messages must carry, e.g. "http://127.0.0.1:8080". Its
	// scheme is the scheme messages must name. Required.
	URI string
	// AllowedChainIDs wallets may sign in on; default [1337].
	AllowedChainIDs []uint64
	// Statement shown to the user in the message; default
	// "Sign in to StreamGate.". Must fit the EIP-4361 statement grammar.
	Statement string
	// NonceTTL is how long a challenge stays usable; default 5m.
	NonceTTL time.Duration
	// MaxIssuedAtSkew bounds issued-at: at most this far in the past, and
	// at most ClockSkew in the future; default 5m.
	MaxIssuedAtSkew time.Duration
	// ClockSkew tolerated on message and token times; default 30s.
	ClockSkew time.Duration
	// SessionTTL is the lifetime of an access token; default 15m.
	SessionTTL time.Duration
	// RefreshTTL is how long a session lives without a refresh (and the
	// lifetime of a refresh token); default 24h.
	RefreshTTL time.Duration
	// MaxSessionLifetime caps a session however often it is refreshed;
	// default 7 days.
	MaxSessionLifetime time.Duration
	// PlaybackTTL is the lifetime of a playback token; default 10m.
	PlaybackTTL time.Duration
	// KeyRotation is how often a new signing key takes over; default 24h.
	KeyRotation time.Duration
	// LicenceVideoTTL is how long the key server's decisions reuse a
	// video's status and policy read from metadata (streaming reuses them
	// as long for playback); default 5s, negative: never.
	LicenceVideoTTL time.Duration
	// JWKSMaxAge is the cache_max_age published with the JWKS; default 5m.
	// The next key is published at least twice this long before it signs.
	JWKSMaxAge time.Duration
	// Issuer is the `iss` of every token; default "streamgate-auth".
	Issuer string
	// DataDir holds auth.db (SQLite) when DatabaseURL is empty; required
	// then.
	DataDir string
	// DatabaseURL is a PostgreSQL database (postgres://...) that several
	// auth instances share; auth keeps its tables in its own schema, so
	// the database may be metadata's too. Empty: SQLite in DataDir, one
	// instance only.
	DatabaseURL string
	// KEK seals the signing keys at rest (internal/secretbox); keys stored
	// in clear before are sealed at start. Nil: keys are stored in clear
	// (tests); a key already sealed then fails the start.
	KEK *secretbox.Keyring
	// DevMode lets a dev identity without a session ask for playback
	// tokens (the identity interceptor refuses that header otherwise).
	DevMode bool
	// MaxOpenChallenges per address; default 16.
	MaxOpenChallenges int
	// Now is the clock; time.Now when nil. For tests.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Domain == "" || c.URI == "" {
		return errors.New("auth: Config.Domain and Config.URI are required")
	}
	if u, err := url.Parse(c.URI); err != nil || u.Scheme == "" {
		return fmt.Errorf("auth: Config.URI %q is not an absolute URI", c.URI)
	}
	switch {
	case c.DatabaseURL != "":
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("auth: Config.DatabaseURL must be a postgres:// URL")
		}
	case c.DataDir == "":
		return errors.New("auth: Config.DataDir is required without a DatabaseURL")
	}
	if len(c.AllowedChainIDs) == 0 {
		c.AllowedChainIDs = []uint64{1337}
	}
	if c.Statement == "" {
		c.Statement = "Sign in to StreamGate."
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.NonceTTL, 5*time.Minute)
	def(&c.MaxIssuedAtSkew, 5*time.Minute)
	def(&c.ClockSkew, 30*time.Second)
	def(&c.SessionTTL, 15*time.Minute)
	def(&c.RefreshTTL, 24*time.Hour)
	def(&c.MaxSessionLifetime, 7*24*time.Hour)
	def(&c.PlaybackTTL, 10*time.Minute)
	def(&c.KeyRotation, 24*time.Hour)
	if c.LicenceVideoTTL == 0 {
		c.LicenceVideoTTL = 5 * time.Second
	}
	def(&c.JWKSMaxAge, 5*time.Minute)
	if c.Issuer == "" {
		c.Issuer = "streamgate-auth"
	}
	if c.MaxOpenChallenges <= 0 {
		c.MaxOpenChallenges = 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RefreshTTL > c.MaxSessionLifetime {
		c.RefreshTTL = c.MaxSessionLifetime
	}
	return nil
}

// maxTokenLifetime is the longest any token signed by a key can live: a
// retired key stays published this long (plus the clock skew).
func (c *Config) maxTokenLifetime() time.Duration {
	return max(c.SessionTTL, c.PlaybackTTL) + c.ClockSkew
}
