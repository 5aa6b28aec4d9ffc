// Package authtoken issues and verifies StreamGate's JSON Web Tokens: the
// session tokens that SignIn hands out and the playback tokens that
// StreamingService checks.
//
// Tokens are signed with Ed25519 (JWS alg "EdDSA") and name their key in
// the `kid` header; verifiers find the public key in the JWKS that
// AuthService.GetSigningKeys publishes. Only EdDSA is accepted, so "none",
// HS256-with-the-public-key and every other algorithm confusion fails
// before a key is looked up. Each token carries a `typ` claim and each
// Parse function accepts exactly one type, so a session token is never a
// playback token and the other way round.
package authtoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamgate/streamgate/internal/identity"
)

const (
	// Algorithm is the only JWS algorithm issued and accepted.
	Algorithm = "EdDSA"
	// TypeSession marks a session (access) token.
	TypeSession = "session"
	// TypePlayback marks a playback token.
	TypePlayback = "playback"
	// MaxTokenBytes bounds the tokens Parse looks at.
	MaxTokenBytes = 4096
)

var (
	// ErrInvalidToken is wrapped by every refusal of a token: malformed,
	// badly signed, expired, of the wrong type or issuer.
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnknownKey is wrapped (with ErrInvalidToken) when the token's
	// kid is not in the key set.
	ErrUnknownKey = errors.New("unknown signing key")
)

// SessionClaims are the claims of a session token.
type SessionClaims struct {
	jwt.RegisteredClaims
	// Type is always TypeSession.
	Type string `json:"typ"`
	// SessionID is the session the token belongs to.
	SessionID string `json:"sid"`
}

// Address returns the wallet (the subject), EIP-55 checksummed.
func (c *SessionClaims) Address() string { return c.Subject }

// Validate is called by the JWT parser after the registered claims passed.
func (c *SessionClaims) Validate() error {
	if c.Type != TypeSession {
		return fmt.Errorf("token type %q is not %q", c.Type, TypeSession)
	}
	if c.SessionID == "" {
		return errors.New("token has no sid")
	}
	if a, err := identity.NormalizeAddress(c.Subject); err != nil || a != c.Subject {
		return errors.New("token subject is not an EIP-55 address")
	}
	return nil
}

// PlaybackClaims are the claims of a playback token.
type PlaybackClaims struct {
	jwt.RegisteredClaims
	// Type is always TypePlayback.
	Type string `json:"typ"`
	// Address is the viewer's wallet, EIP-55 checksummed.
	Address string `json:"addr"`
	// SessionID is the session the token was issued to.
	SessionID string `json:"sid"`
	// AllowedOrigins are the video's allowed origins when the token was
	// issued (normalised, see weborigin); empty: any. Carried here so the
	// edge checks a media request's Origin without asking metadata.
	AllowedOrigins []string `json:"aor,omitempty"`
	// PreviewSeconds, when set, limits the token to the video's free
	// preview: the viewer does not hold the pass (grant PREVIEW), and
	// streaming cuts manifests and refuses segments past it.
	PreviewSeconds uint32 `json:"pv,omitempty"`
}

// VideoID returns the video the token is for (the subject).
func (c *PlaybackClaims) VideoID() string { return c.Subject }

// Validate is called by the JWT parser after the registered claims passed.
func (c *PlaybackClaims) Validate() error {
	if c.Type != TypePlayback {
		return fmt.Errorf("token type %q is not %q", c.Type, TypePlayback)
	}
	if c.Subject == "" {
		return errors.New("token has no video id")
	}
	if a, err := identity.NormalizeAddress(c.Address); err != nil || a != c.Address {
		return errors.New("token addr is not an EIP-55 address")
	}
	return nil
}

// SigningKey is an Ed25519 private key and its key id.
type SigningKey struct {
	// ID is the `kid`: the RFC 7638 thumbprint of the public key.
	ID string
	// Private signs.
	Private ed25519.PrivateKey
}

// GenerateKey returns a fresh signing key.
func GenerateKey() (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	return NewSigningKey(priv), nil
}

// NewSigningKey wraps priv, deriving its key id.
func NewSigningKey(priv ed25519.PrivateKey) SigningKey {
	return SigningKey{ID: Thumbprint(priv.Public().(ed25519.PublicKey)), Private: priv}
}

// Public returns the public half.
func (k SigningKey) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key
// (RFC 8037 section 2), base64url without padding.
func Thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Sign signs claims with key, naming it in the kid header.
func Sign(key SigningKey, claims jwt.Claims) (string, error) {
	if len(key.Private) != ed25519.PrivateKeySize || key.ID == "" {
		return "", errors.New("authtoken: signing key is not set")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = key.ID
	return t.SignedString(key.Private)
}

// KeyLookup finds the public key for a kid.
type KeyLookup func(kid string) (ed25519.PublicKey, bool)

// ParseOptions say what a valid token must carry.
type ParseOptions struct {
	// Issuer the token's iss must equal. Required.
	Issuer string
	// Leeway tolerated on exp, nbf and iat for clock skew.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// ParseSession verifies a session token and returns its claims.
func ParseSession(token string, keys KeyLookup, opts ParseOptions) (*SessionClaims, error) {
	c := &SessionClaims{}
	if err := parse(token, c, keys, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// ParsePlayback verifies a playback token and returns its claims. The
// caller compares VideoID with the video being fetched.
func ParsePlayback(token string, keys KeyLookup, opts ParseOptions) (*PlaybackClaims, error) {
	c := &PlaybackClaims{}
	if err := parse(token, c, keys, opts); err != nil {
		return nil, err
	}
	return c, nil
}

func parse(token string, claims jwt.Claims, keys KeyLookup, opts ParseOptions) error {
	if opts.Issuer == "" {
		return errors.New("authtoken: ParseOptions.Issuer is required")
	}
	if len(token) > MaxTokenBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithStrictDecoding(),
	}
	if opts.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(opts.Now))
	}
	var unknown bool
	_, err := jwt.NewParser(popts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodEdDSA {
			return nil, errors.New("algorithm is not EdDSA")
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		pub, ok := keys(kid)
		if !ok {
			unknown = true
			return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
		}
		return pub, nil
	})
	if err != nil {
		if unknown {
			return fmt.Errorf("%w: %w", ErrInvalidToken, ErrUnknownKey)
		}
		return fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return nil
}
