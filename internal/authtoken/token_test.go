package authtoken

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer = "https://auth.test"
	testAddr   = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
)

func mustKey(t testing.TB) SigningKey {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func lookupOf(keys ...SigningKey) KeyLookup {
	return func(kid string) (ed25519.PublicKey, bool) {
		for _, k := range keys {
			if k.ID == kid {
				return k.Public(), true
			}
		}
		return nil, false
	}
}

func sessionClaims(now time.Time) *SessionClaims {
	return &SessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   testAddr,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		},
		Type:      TypeSession,
		SessionID: "ses_1",
	}
}

func playbackClaims(now time.Time) *PlaybackClaims {
	return &PlaybackClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "vid_1",
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
		},
		Type:      TypePlayback,
		Address:   testAddr,
		SessionID: "ses_1",
	}
}

func TestSessionRoundTrip(t *testing.T) {
	k := mustKey(t)
	now := time.Now()
	tok, err := Sign(k, sessionClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseSession(tok, lookupOf(k), ParseOptions{Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	if c.Address() != testAddr || c.SessionID != "ses_1" || c.Type != TypeSession {
		t.Errorf("claims = %+v", c)
	}
	hdr := decodeSegment(t, tok, 0)
	if hdr["kid"] != k.ID || hdr["alg"] != "EdDSA" {
		t.Errorf("header = %v, want kid %s alg EdDSA", hdr, k.ID)
	}
	p, err := Sign(k, playbackClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ParsePlayback(p, lookupOf(k), ParseOptions{Issuer: testIssuer})
	if err != nil || pc.VideoID() != "vid_1" || pc.Address != testAddr {
		t.Fatalf("ParsePlayback = %+v, %v", pc, err)
	}
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeSegment(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestRejects(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	now := time.Now()
	opts := ParseOptions{Issuer: testIssuer}
	good, _ := Sign(k, sessionClaims(now))
	parts := strings.Split(good, ".")

	// HS256 keyed with the Ed25519 public key bytes: the classic
	// algorithm-confusion forgery.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims(now))
	hs.Header["kid"] = k.ID
	hsTok, _ := hs.SignedString([]byte(k.Public()))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, sessionClaims(now))
	none.Header["kid"] = k.ID
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	playback, _ := Sign(k, playbackClaims(now))
	mut := func(f func(*SessionClaims)) string {
		c := sessionClaims(now)
		f(c)
		s, err := Sign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	noKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, sessionClaims(now))
	noKidTok, _ := noKid.SignedString(k.Private)
	otherSigned, _ := Sign(SigningKey{ID: k.ID, Private: other.Private}, sessionClaims(now))
	tamperedClaims := sessionClaims(now)
	tamperedClaims.Subject = "0x0000000000000000000000000000000000000001"
	tampered := parts[0] + "." + encodeSegment(tamperedClaims) + "." + parts[2]

	tests := map[string]string{
		"empty":                "",
		"garbage":              "a.b.c",
		"alg none":             noneTok,
		"HS256 with pub key":   hsTok,
		"playback as session":  playback,
		"wrong issuer":         mut(func(c *SessionClaims) { c.Issuer = "https://evil" }),
		"expired":              mut(func(c *SessionClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }),
		"no exp":               mut(func(c *SessionClaims) { c.ExpiresAt = nil }),
		"not yet valid":        mut(func(c *SessionClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }),
		"issued in the future": mut(func(c *SessionClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }),
		"typ missing":          mut(func(c *SessionClaims) { c.Type = "" }),
		"sid missing":          mut(func(c *SessionClaims) { c.SessionID = "" }),
		"subject not checksum": mut(func(c *SessionClaims) { c.Subject = strings.ToLower(testAddr) }),
		"no kid":               noKidTok,
		"signed by other key":  otherSigned,
		"tampered payload":     tampered,
		"stripped signature":   parts[0] + "." + parts[1] + ".",
		"oversized":            good + strings.Repeat("A", MaxTokenBytes),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseSession(tok, lookupOf(k), opts)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("ParseSession = %+v, %v; want ErrInvalidToken", c, err)
			}
		})
	}
	t.Run("session as playback", func(t *testing.T) {
		if c, err := ParsePlayback(good, lookupOf(k), opts); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("ParsePlayback(session) = %+v, %v", c, err)
		}
	})
	t.Run("unknown kid", func(t *testing.T) {
		if _, err := ParseSession(good, lookupOf(other), opts); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrUnknownKey and ErrInvalidToken", err)
		}
	})
}

func TestThumbprintRFC8037(t *testing.T) {
	// RFC 8037 appendix A.3.
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := Thumbprint(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
}
