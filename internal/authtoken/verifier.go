package authtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/sync/singleflight"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// ErrKeysUnavailable is returned when no key set could be fetched yet: the
// token cannot be judged, so the caller answers Unavailable, not
// Unauthenticated.
var ErrKeysUnavailable = errors.New("signing keys unavailable")

// KeySource fetches the JWKS. authv1connect.AuthServiceClient satisfies
// it, so the gateway and streaming pass their mesh client.
type KeySource interface {
	GetSigningKeys(context.Context, *connect.Request[authv1.GetSigningKeysRequest]) (*connect.Response[authv1.GetSigningKeysResponse], error)
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Issuer every token must carry. Required.
	Issuer string
	// Leeway for clock skew; default 30s.
	Leeway time.Duration
	// DefaultMaxAge is how long a key set is used when the source sends
	// no cache_max_age; default 5m.
	DefaultMaxAge time.Duration
	// MaxMaxAge caps the source's cache_max_age; default 1h.
	MaxMaxAge time.Duration
	// MinRefetchInterval is the least time between two fetches caused by
	// unknown kids or failed fetches, so a flood of tokens with made-up
	// kids costs auth at most one call per interval; default 30s.
	MinRefetchInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier verifies tokens locally against a cached JWKS. It calls the
// KeySource only when the cache is empty or older than its max age, or
// when a token names an unknown kid (at most once per
// MinRefetchInterval). Safe for concurrent use.
type Verifier struct {
	src    KeySource
	cfg    VerifierConfig
	logger *slog.Logger
	group  singleflight.Group

	mu        sync.Mutex
	keys      *KeySet
	fresh     time.Time // keys are used without refetching until then
	lastFetch time.Time // end of the last fetch attempt, successful or not
}

// NewVerifier returns a Verifier reading keys from src.
func NewVerifier(src KeySource, cfg VerifierConfig, logger *slog.Logger) (*Verifier, error) {
	if src == nil || logger == nil {
		return nil, errors.New("authtoken: NewVerifier needs a key source and a logger")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("authtoken: VerifierConfig.Issuer is required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.DefaultMaxAge <= 0 {
		cfg.DefaultMaxAge = 5 * time.Minute
	}
	if cfg.MaxMaxAge <= 0 {
		cfg.MaxMaxAge = time.Hour
	}
	if cfg.MinRefetchInterval <= 0 {
		cfg.MinRefetchInterval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{src: src, cfg: cfg, logger: logger}, nil
}

// VerifySession verifies a session token. Errors wrap ErrInvalidToken or
// ErrKeysUnavailable. It does not know about revocation: a signed-out
// session's access token verifies until it expires (minutes).
func (v *Verifier) VerifySession(ctx context.Context, token string) (*SessionClaims, error) {
	var c *SessionClaims
	err := v.verify(ctx, func(keys KeyLookup) (err error) {
		c, err = ParseSession(token, keys, v.opts())
		return err
	})
	return c, err
}

// VerifyPlayback verifies a playback token for videoID.
func (v *Verifier) VerifyPlayback(ctx context.Context, token, videoID string) (*PlaybackClaims, error) {
	var c *PlaybackClaims
	err := v.verify(ctx, func(keys KeyLookup) (err error) {
		c, err = ParsePlayback(token, keys, v.opts())
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.VideoID() != videoID {
		return nil, fmt.Errorf("%w: token is for another video", ErrInvalidToken)
	}
	return c, nil
}

func (v *Verifier) opts() ParseOptions {
	return ParseOptions{Issuer: v.cfg.Issuer, Leeway: v.cfg.Leeway, Now: v.cfg.Now}
}

func (v *Verifier) verify(ctx context.Context, parse func(KeyLookup) error) error {
	ks, err := v.current(ctx)
	if err != nil {
		return err
	}
	err = parse(ks.Lookup)
	if !errors.Is(err, ErrUnknownKey) || !v.mayRefetch() {
		return err
	}
	ks, ferr := v.fetch(ctx)
	if ferr != nil {
		return err
	}
	return parse(ks.Lookup)
}

// current returns a key set, fetching when there is none or it is stale.
// A stale set stays in use while the source is unreachable.
func (v *Verifier) current(ctx context.Context) (*KeySet, error) {
	v.mu.Lock()
	ks, fresh := v.keys, v.cfg.Now().Before(v.fresh)
	v.mu.Unlock()
	if fresh {
		return ks, nil
	}
	if !v.mayRefetch() {
		if ks == nil {
			return nil, fmt.Errorf("%w: the last fetch failed", ErrKeysUnavailable)
		}
		return ks, nil
	}
	nks, err := v.fetch(ctx)
	if err != nil {
		if ks != nil {
			v.logger.WarnContext(ctx, "using stale signing keys", "err", err)
			return ks, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	return nks, nil
}

// mayRefetch reports whether the rate limit allows a fetch now.
func (v *Verifier) mayRefetch() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastFetch.IsZero() || v.cfg.Now().Sub(v.lastFetch) >= v.cfg.MinRefetchInterval
}

// fetch loads the key set; concurrent callers share one call.
func (v *Verifier) fetch(ctx context.Context) (*KeySet, error) {
	ch := v.group.DoChan("jwks", func() (any, error) {
		// lastFetch is stamped when the attempt ends: callers arriving
		// while it is in flight join it instead of being rate limited.
		defer func() {
			v.mu.Lock()
			v.lastFetch = v.cfg.Now()
			v.mu.Unlock()
		}()
		// Detached from the first caller's cancellation so that one
		// impatient caller does not fail the others sharing the call.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		res, err := v.src.GetSigningKeys(fctx, connect.NewRequest(&authv1.GetSigningKeysRequest{}))
		if err != nil {
			return nil, err
		}
		ks, err := NewKeySet(res.Msg.GetKeys())
		if err != nil {
			return nil, err
		}
		maxAge := time.Duration(res.Msg.GetCacheMaxAgeSeconds()) * time.Second
		if maxAge <= 0 {
			maxAge = v.cfg.DefaultMaxAge
		}
		maxAge = min(maxAge, v.cfg.MaxMaxAge)
		v.mu.Lock()
		v.keys, v.fresh = ks, v.cfg.Now().Add(maxAge)
		v.mu.Unlock()
		return ks, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*KeySet), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
