package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
)

func kids(keys []*authv1.JsonWebKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.GetKid())
	}
	return out
}

func TestKeyRotation(t *testing.T) {
	// Rotation every hour; the JWKS is cached for a minute, so the next
	// key is published two minutes ahead. Tokens live at most 15m + 30s.
	cfg := func(c *Config) { c.KeyRotation = time.Hour; c.JWKSMaxAge = time.Minute }
	e := newEnv(t, cfg)
	ctx := t.Context()
	t0 := e.clock.Now()
	jwks := func() []*authv1.JsonWebKey {
		res, err := e.client.GetSigningKeys(ctx, connect.NewRequest(&authv1.GetSigningKeysRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetCacheMaxAgeSeconds() != 60 {
			t.Errorf("cache_max_age = %d, want 60", res.Msg.GetCacheMaxAgeSeconds())
		}
		return res.Msg.GetKeys()
	}
	a, _ := e.svc.keys.signer()
	if ks := jwks(); len(ks) != 1 || ks[0].GetKid() != a.ID || ks[0].GetRetireTime() != nil || ks[0].GetAlg() != "EdDSA" || ks[0].GetKty() != "OKP" {
		t.Fatalf("initial JWKS = %v", ks)
	}
	w := newWallet(t)

	// 57 minutes: nothing due yet.
	e.clock.Add(57 * time.Minute)
	if _, err := e.svc.keys.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if len(jwks()) != 1 {
		t.Fatalf("JWKS = %v before the successor is due", kids(jwks()))
	}
	// 58 minutes: the successor is published, A still signs.
	e.clock.Add(time.Minute)
	next, err := e.svc.keys.ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ks := jwks()
	if len(ks) != 2 {
		t.Fatalf("JWKS = %v, want the active key and its successor", kids(ks))
	}
	if k, _ := e.svc.keys.signer(); k.ID != a.ID {
		t.Fatalf("successor signs before its activation")
	}
	b := ks[0].GetKid()
	oldSession := e.login(w)
	// After the activation B signs; A is retired but still verifies.
	e.clock.Add(2*time.Minute + time.Second)
	if k, _ := e.svc.keys.signer(); k.ID != b {
		t.Fatalf("signer = %s after activation, want %s", k.ID, b)
	}
	ks = jwks()
	if len(ks) != 2 || ks[1].GetKid() != a.ID || !ks[1].GetRetireTime().AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("JWKS after rotation = %v", ks)
	}
	if _, err := e.client.GetSession(ctx, withBearer(&authv1.GetSessionRequest{}, oldSession.GetAccessToken())); err != nil {
		t.Fatalf("token from the retired key: %v", err)
	}
	newSession := e.login(w)
	if hdr := tokenKid(t, newSession.GetAccessToken()); hdr != b {
		t.Fatalf("new token kid = %s, want %s", hdr, b)
	}

	// The next wake-up is no later than A's removal.
	if want := t0.Add(time.Hour + 15*time.Minute + 30*time.Second); next.After(want) {
		t.Errorf("next = %v, want <= %v", next, want)
	}
	// Once every token A signed has expired, A leaves the JWKS.
	e.clock.Add(16 * time.Minute)
	if _, err := e.svc.keys.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if ks := jwks(); len(ks) != 1 || ks[0].GetKid() != b {
		t.Fatalf("JWKS = %v, want only %s", kids(ks), b)
	}

	// Keys are durable: a restart keeps signing with B.
	e.start(cfg)
	if k, _ := e.svc.keys.signer(); k.ID != b {
		t.Fatalf("after restart signer = %s, want %s", k.ID, b)
	}

	// Down through a rotation: the overdue key is replaced at once.
	e.clock.Add(3 * time.Hour)
	if _, err := e.svc.keys.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.svc.keys.signer(); k.ID == b {
		t.Fatal("overdue key still signs")
	}
}

func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	var kid string
	_, err := authtoken.ParseSession(tok, func(k string) (ed25519.PublicKey, bool) { kid = k; return nil, false }, authtoken.ParseOptions{Issuer: "x"})
	if err == nil {
		t.Fatal("parsed without a key")
	}
	return kid
}

func TestRunRotates(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Now = time.Now
		c.KeyRotation = 400 * time.Millisecond
		c.JWKSMaxAge = 50 * time.Millisecond
	})
	first, _ := e.svc.keys.signer()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- e.svc.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if k, _ := e.svc.keys.signer(); k.ID != first.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not rotate the key")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronizing
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestVerifierAgainstService checks the Verifier as gateway and streaming
// use it: over a Connect client to GetSigningKeys.
func TestVerifierAgainstService(t *testing.T) {
	// The Verifier checks exp against its own clock: use the real one.
	e := newEnv(t, func(c *Config) { c.Now = time.Now })
	v, err := authtoken.NewVerifier(e.client, authtoken.VerifierConfig{Issuer: "streamgate-auth"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w := newWallet(t)
	in := e.login(w)
	c, err := v.VerifySession(t.Context(), in.GetAccessToken())
	if err != nil || c.Address() != w.addr.Hex() {
		t.Fatalf("VerifySession = %+v, %v", c, err)
	}
	e.videos.videos["vid_1"] = readyVideo("vid_1", nil)
	pt, err := e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_1"}, in.GetAccessToken()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPlayback(t.Context(), pt.Msg.GetToken(), "vid_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPlayback(t.Context(), in.GetAccessToken(), "vid_1"); err == nil {
		t.Fatal("session token accepted as playback token")
	}

	// The plain JWKS route lists the same keys.
	mux := http.NewServeMux()
	for p, h := range e.svc.HTTPHandlers() {
		mux.Handle(p, h)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg, X string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].Crv != "Ed25519" {
		t.Fatalf("jwks.json = %s (%v)", rec.Body, err)
	}
}
