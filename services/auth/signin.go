package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/services/auth/siwe"
)

// MaxSignatureBytes bounds a signature (EIP-1271 signatures may be longer
// than 65 bytes).
const MaxSignatureBytes = 4096

// Challenge is an issued EIP-4361 message.
type Challenge struct {
	Message string
	Nonce   string
	Expires time.Time
}

// CreateChallenge issues a message for address on chainID with a fresh
// single-use nonce.
func (s *Service) CreateChallenge(ctx context.Context, address string, chainID uint64) (Challenge, error) {
	addr, err := identity.NormalizeAddress(address)
	if err != nil {
		return Challenge{}, invalid("address: %v", err)
	}
	if !s.chainAllowed(chainID) {
		return Challenge{}, invalid("chain id %d is not configured; allowed: %v", chainID, s.cfg.AllowedChainIDs)
	}
	now := s.cfg.Now()
	// 26 characters of base32 (A-Z, 2-7): 130 bits, all alphanumeric.
	nonce := rand.Text()
	m := &siwe.Message{
		Scheme:         s.scheme(),
		Domain:         s.cfg.Domain,
		Address:        common.HexToAddress(addr),
		Statement:      s.cfg.Statement,
		URI:            s.cfg.URI,
		Version:        siwe.Version,
		ChainID:        chainID,
		Nonce:          nonce,
		IssuedAt:       siwe.FormatTime(now),
		ExpirationTime: siwe.FormatTime(now.Add(s.cfg.NonceTTL)),
	}
	if err := m.Validate(); err != nil {
		// Only the configuration can make a message invalid.
		return Challenge{}, err
	}
	expires := now.Add(s.cfg.NonceTTL)
	if err := s.store.addNonce(ctx, nonce, addr, chainID, expires, now, s.cfg.MaxOpenChallenges); err != nil {
		if errors.Is(err, errTooManyChallenges) {
			return Challenge{}, newErr(connect.CodeResourceExhausted, "%d challenges are already open for %s; sign one or wait %s", s.cfg.MaxOpenChallenges, addr, s.cfg.NonceTTL)
		}
		return Challenge{}, err
	}
	return Challenge{Message: m.String(), Nonce: nonce, Expires: expires}, nil
}

func (s *Service) chainAllowed(id uint64) bool {
	for _, c := range s.cfg.AllowedChainIDs {
		if c == id {
			return true
		}
	}
	return false
}

func (s *Service) scheme() string { return schemeOf(s.cfg.URI) }

func schemeOf(uri string) string {
	scheme, _, _ := strings.Cut(uri, ":")
	return scheme
}

// Session is a signed-in wallet.
type Session struct {
	ID      string
	Address string
	ChainID uint64
	Created time.Time
	Expires time.Time
}

// Tokens are what SignIn and RefreshSession hand out.
type Tokens struct {
	Session       Session
	AccessToken   string
	AccessExpires time.Time
	RefreshToken  string
}

// SignIn verifies a signed challenge and opens a session. The order of
// checks keeps the expensive and external ones last: size and syntax, the
// message's fields, the nonce (read only), the signature (EIP-191, then
// EIP-1271 on the chain), and last the atomic nonce consumption together
// with the session's creation.
func (s *Service) SignIn(ctx context.Context, message, signature string) (Tokens, error) {
	if len(message) > siwe.MaxMessageBytes {
		return Tokens{}, invalid("message is %d bytes, over the %d-byte limit", len(message), siwe.MaxMessageBytes)
	}
	sig, err := decodeSignature(signature)
	if err != nil {
		return Tokens{}, err
	}
	m, err := siwe.Parse(message)
	if err != nil {
		return Tokens{}, invalid("%v", err)
	}
	now := s.cfg.Now()
	if err := m.Check(s.expectations(), now); err != nil {
		return Tokens{}, unauthenticated("%v", err)
	}
	if err := s.store.peekNonce(ctx, m.Nonce, m.Address.Hex(), m.ChainID, now); err != nil {
		return Tokens{}, nonceError(err)
	}
	if err := s.verifySignature(ctx, m, message, sig); err != nil {
		return Tokens{}, err
	}

	refresh, err := newRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	sess := session{
		ID:         "ses_" + ulid.Make().String(),
		Address:    m.Address.Hex(),
		ChainID:    m.ChainID,
		Created:    now.UTC().Truncate(time.Millisecond),
		MaxExpires: now.Add(s.cfg.MaxSessionLifetime).UTC().Truncate(time.Millisecond),
	}
	sess.Expires = now.Add(s.cfg.RefreshTTL).UTC().Truncate(time.Millisecond)
	if err := s.store.openSession(ctx, m.Nonce, sess, hashToken(refresh), now); err != nil {
		return Tokens{}, nonceError(err)
	}
	s.metrics.signedIn(ctx)
	return s.tokens(sess, refresh, now)
}

func nonceError(err error) error {
	for _, e := range []error{errNonceUnknown, errNonceUsed, errNonceExpired, errNonceMismatch} {
		if errors.Is(err, e) {
			return unauthenticated("%v", e)
		}
	}
	return err
}

func (s *Service) expectations() siwe.Expectations {
	return siwe.Expectations{
		Domain:   s.cfg.Domain,
		URI:      s.cfg.URI,
		ChainIDs: s.cfg.AllowedChainIDs,
		MaxAge:   s.cfg.MaxIssuedAtSkew,
		Skew:     s.cfg.ClockSkew,
	}
}

func decodeSignature(s string) ([]byte, error) {
	if len(s) > 2+2*MaxSignatureBytes {
		return nil, invalid("signature is over the %d-byte limit", MaxSignatureBytes)
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) == 0 || len(h)%2 != 0 {
		return nil, invalid("signature must be 0x-prefixed hex with an even number of digits")
	}
	sig, err := hex.DecodeString(h)
	if err != nil {
		return nil, invalid("signature is not hex")
	}
	return sig, nil
}

// verifySignature accepts an EIP-191 signature by the message's address,
// and otherwise asks the chain whether the address is a contract wallet
// that accepts the signature (EIP-1271). A chain error never signs in.
func (s *Service) verifySignature(ctx context.Context, m *siwe.Message, message string, sig []byte) error {
	if len(sig) == siwe.SignatureLength {
		if addr, err := siwe.RecoverEIP191(message, sig); err == nil && addr == m.Address {
			return nil
		}
	}
	ok, err := s.wallets.IsValidSignature(ctx, m.ChainID, m.Address, common.BytesToHash(accounts.TextHash([]byte(message))), sig)
	if err != nil {
		return unavailable(err, "cannot verify a contract-wallet signature: chain %d is unreachable; try again", m.ChainID)
	}
	if !ok {
		return unauthenticated("%v", siwe.ErrSignature)
	}
	return nil
}

func newRefreshToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

const refreshPrefix = "rt_"

// tokens signs an access token for sess.
func (s *Service) tokens(sess session, refresh string, now time.Time) (Tokens, error) {
	exp := now.Add(s.cfg.SessionTTL)
	if exp.After(sess.Expires) {
		exp = sess.Expires
	}
	key, ok := s.keys.signer()
	if !ok {
		return Tokens{}, errors.New("auth: no signing key")
	}
	tok, err := authtoken.Sign(key, &authtoken.SessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   sess.Address,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Type:      authtoken.TypeSession,
		SessionID: sess.ID,
	})
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Session: publicSession(sess), AccessToken: tok, AccessExpires: jwt.NewNumericDate(exp).Time, RefreshToken: refresh}, nil
}

func publicSession(s session) Session {
	return Session{ID: s.ID, Address: s.Address, ChainID: s.ChainID, Created: s.Created, Expires: s.Expires}
}

// RefreshSession spends a refresh token for a new access token and the
// next refresh token.
func (s *Service) RefreshSession(ctx context.Context, refreshToken string) (Tokens, error) {
	if !strings.HasPrefix(refreshToken, refreshPrefix) || len(refreshToken) > 128 {
		return Tokens{}, unauthenticated("%v", errRefreshInvalid)
	}
	next, err := newRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	now := s.cfg.Now()
	sess, err := s.store.refresh(ctx, hashToken(refreshToken), hashToken(next), now, s.cfg.RefreshTTL)
	if errors.Is(err, errRefreshReused) {
		s.announceRevoked(ctx, sess, eventsv1.SessionRevokedReason_SESSION_REVOKED_REASON_REFRESH_REUSE)
	}
	if err != nil {
		for _, e := range []error{errRefreshInvalid, errRefreshReused, errSessionGone} {
			if errors.Is(err, e) {
				return Tokens{}, unauthenticated("%v", e)
			}
		}
		return Tokens{}, err
	}
	return s.tokens(sess, next, now)
}

// callerSessionID names the caller's session: from the identity the
// gateway forwarded, or else from a bearer session token verified here.
func (s *Service) callerSessionID(ctx context.Context, bearer string) (sid, addr string, err error) {
	c := identity.FromContext(ctx)
	sid, addr = c.SessionID, c.Address
	if sid == "" && bearer != "" {
		claims, err := authtoken.ParseSession(bearer, s.keys.lookup, authtoken.ParseOptions{Issuer: s.cfg.Issuer, Leeway: s.cfg.ClockSkew, Now: s.cfg.Now})
		if err != nil {
			return "", "", unauthenticated("bearer token: %v", err)
		}
		sid, addr = claims.SessionID, claims.Address()
	}
	if sid == "" {
		return "", "", unauthenticated("%v", identity.ErrUnauthenticated)
	}
	return sid, addr, nil
}

// liveSession loads a session that is neither revoked nor expired and
// belongs to addr (when addr is known).
func (s *Service) liveSession(ctx context.Context, sid, addr string) (session, error) {
	sess, err := s.store.session(ctx, sid)
	if errors.Is(err, errNoSession) {
		return session{}, unauthenticated("session not found")
	}
	if err != nil {
		return session{}, err
	}
	if addr != "" && addr != sess.Address {
		return session{}, unauthenticated("session belongs to another address")
	}
	if sess.Revoked || !s.cfg.Now().Before(sess.Expires) {
		return session{}, unauthenticated("%v", errSessionGone)
	}
	return sess, nil
}

// GetSession returns the caller's session.
func (s *Service) GetSession(ctx context.Context, bearer string) (Session, error) {
	sid, addr, err := s.callerSessionID(ctx, bearer)
	if err != nil {
		return Session{}, err
	}
	sess, err := s.liveSession(ctx, sid, addr)
	if err != nil {
		return Session{}, err
	}
	return publicSession(sess), nil
}

// SignOut revokes the caller's session and its refresh tokens. Signing
// out a session that is already revoked, expired or swept succeeds.
func (s *Service) SignOut(ctx context.Context, bearer string) error {
	sid, addr, err := s.callerSessionID(ctx, bearer)
	if err != nil {
		return err
	}
	sess, err := s.store.session(ctx, sid)
	if errors.Is(err, errNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	if addr != "" && addr != sess.Address {
		return unauthenticated("session belongs to another address")
	}
	if err := s.store.revoke(ctx, sid); err != nil {
		return err
	}
	// Announced again for a session already revoked: the event id is the
	// same, and a first publish that failed gets another chance.
	s.announceRevoked(ctx, sess, eventsv1.SessionRevokedReason_SESSION_REVOKED_REASON_SIGN_OUT)
	return nil
}
