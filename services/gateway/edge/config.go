package edge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/operatortokens"
)

// DefaultMaxRequestBytes bounds an RPC request body when Config leaves
// MaxRequestBytes at zero.
const DefaultMaxRequestBytes = 8 << 20

// Config configures the edge.
type Config struct {
	// DevMode passes identity.DevAddressHeader through to the services
	// and lets it stand in for a session. Outside dev mode the header is
	// stripped from every request.
	DevMode bool
	// Operators are the operator credentials, each named, sent by an
	// operator as "Authorization: Bearer <token>"; the access log names
	// the one used. Nil (and no OperatorToken): no caller is an operator,
	// and operator RPCs are refused.
	Operators operatortokens.Matcher
	// OperatorToken is a single operator credential named "default",
	// used when Operators is nil.
	OperatorToken string
	// AllowedOrigins are the browser origins ("https://video.example.com",
	// "http://localhost:5173") CORS admits; "*" admits any origin. Empty:
	// no cross-origin browser calls.
	AllowedOrigins []string
	// MaxRequestBytes bounds the body of one RPC request (Connect, gRPC,
	// gRPC-Web); 0 means DefaultMaxRequestBytes. tus PATCH bodies are not
	// bounded here: the upload service holds them to the upload's size.
	MaxRequestBytes int64
	// PerIP limits requests per client IP: the TCP peer, or the client a
	// trusted proxy names (TrustedProxies). Zero value: DefaultPerIP.
	PerIP RateLimit
	// PerPlayback limits media requests under /play/ (manifests,
	// segments) per playback token, not per IP: the viewers of a
	// household, an office or a campus behind one NAT each have their own
	// token and bucket. A media request without a token (a public video)
	// is limited per client IP at this rate. Zero value:
	// DefaultPerPlayback.
	PerPlayback RateLimit
	// MaxConcurrent caps the requests in flight at the edge (streams and
	// uploads included, for as long as they last); a request past it is
	// refused with Unavailable (503). 0: DefaultMaxConcurrent; negative:
	// no cap.
	MaxConcurrent int
	// MaxConcurrentPerClient caps one client IP's requests in flight; a
	// request past it is refused with ResourceExhausted (429). 0:
	// DefaultMaxConcurrentPerClient; negative: no cap.
	MaxConcurrentPerClient int
	// TrustedProxies are the reverse proxies (load balancers, CDNs) whose
	// X-Forwarded-For the edge believes: when the TCP peer is in one of
	// them, the client is the right-most X-Forwarded-For address that is
	// not. Empty: X-Forwarded-For is ignored and the peer is the client.
	TrustedProxies []netip.Prefix
	// PerIdentity limits requests per signed-in wallet, across IPs. Zero
	// value: DefaultPerIdentity.
	PerIdentity RateLimit
	// PublicBaseURL is the gateway's public URL ("https://video.example.com"),
	// named as the server in the OpenAPI document; empty: no server is
	// named and clients resolve paths against the document's URL.
	PublicBaseURL string
	// Now is the clock of the rate limiters; time.Now when nil.
	Now func() time.Time
}

// RateLimit is a token bucket: Rate requests per second on average, Burst
// at once. A negative Rate disables the limit.
type RateLimit struct {
	Rate  float64
	Burst int
}

// The concurrency caps' defaults: room for a busy node, and for a
// browser's parallel segment fetches, uploads and watch streams per client.
const (
	DefaultMaxConcurrent          = 4096
	DefaultMaxConcurrentPerClient = 128
)

var (
	// DefaultPerIP admits a page load's burst of API calls and the web
	// app's assets; media is limited per viewer (DefaultPerPlayback).
	DefaultPerIP = RateLimit{Rate: 50, Burst: 200}
	// DefaultPerPlayback is per viewer: a player fetching 2 s video and
	// audio segments (and playlist refreshes) at 8x real time stays under
	// 10 requests a second, so 20 leaves room for a player that probes
	// renditions; the burst covers a start or a seek that fetches many at
	// once.
	DefaultPerPlayback = RateLimit{Rate: 20, Burst: 100}
	// DefaultPerIdentity is per wallet, whatever the IP.
	DefaultPerIdentity = RateLimit{Rate: 20, Burst: 100}
)

func (l RateLimit) orDefault(d RateLimit) RateLimit {
	if l.Rate == 0 && l.Burst == 0 {
		return d
	}
	if l.Rate > 0 && l.Burst < 1 {
		l.Burst = 1
	}
	return l
}

func (c *Config) normalize() error {
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxRequestBytes < 0 {
		return errors.New("gateway: negative MaxRequestBytes")
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("gateway: allowed origin %q is not scheme://host[:port]", o)
		}
	}
	if c.Operators == nil && c.OperatorToken != "" {
		set, err := operatortokens.Single(c.OperatorToken)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		c.Operators = set
	}
	c.PerIP = c.PerIP.orDefault(DefaultPerIP)
	c.PerPlayback = c.PerPlayback.orDefault(DefaultPerPlayback)
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxConcurrentPerClient == 0 {
		c.MaxConcurrentPerClient = DefaultMaxConcurrentPerClient
	}
	proxies := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			return fmt.Errorf("gateway: trusted proxy %d is not a CIDR prefix", i)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		proxies = append(proxies, p.Masked())
	}
	c.TrustedProxies = proxies
	c.PerIdentity = c.PerIdentity.orDefault(DefaultPerIdentity)
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func normalizeOrigin(o string) string { return strings.ToLower(strings.TrimSuffix(o, "/")) }

// SessionVerifier checks a session token locally; *authtoken.Verifier
// satisfies it. Errors wrap authtoken.ErrInvalidToken or
// authtoken.ErrKeysUnavailable.
type SessionVerifier interface {
	VerifySession(ctx context.Context, token string) (*authtoken.SessionClaims, error)
}

// PlaybackVerifier checks a playback token locally; a SessionVerifier that
// is one too (*authtoken.Verifier) lets the edge limit media per viewer
// (Config.PerPlayback) instead of per address.
type PlaybackVerifier interface {
	VerifyPlayback(ctx context.Context, token, videoID string) (*authtoken.PlaybackClaims, error)
}
