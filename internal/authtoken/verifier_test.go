package authtoken

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

type fakeSource struct {
	mu     sync.Mutex
	keys   []SigningKey
	maxAge uint32
	fail   error
	calls  atomic.Int32
}

func (f *fakeSource) GetSigningKeys(context.Context, *connect.Request[authv1.GetSigningKeysRequest]) (*connect.Response[authv1.GetSigningKeysResponse], error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	res := &authv1.GetSigningKeysResponse{CacheMaxAgeSeconds: f.maxAge}
	for _, k := range f.keys {
		res.Keys = append(res.Keys, JWK(k.ID, k.Public()))
	}
	return connect.NewResponse(res), nil
}

func (f *fakeSource) set(fail error, keys ...SigningKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.keys = fail, keys
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestVerifier(t *testing.T, src KeySource, clk *clock) *Verifier {
	t.Helper()
	v, err := NewVerifier(src, VerifierConfig{Issuer: testIssuer, MinRefetchInterval: 30 * time.Second, Now: clk.Now}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifierCaches(t *testing.T) {
	k := mustKey(t)
	src := &fakeSource{maxAge: 300}
	src.set(nil, k)
	clk := &clock{now: time.Now()}
	v := newTestVerifier(t, src, clk)
	tok, _ := Sign(k, sessionClaims(clk.Now()))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := v.VerifySession(t.Context(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("source calls = %d after 50 verifications, want 1", n)
	}
	clk.Add(301 * time.Second)
	tok, _ = Sign(k, sessionClaims(clk.Now()))
	if _, err := v.VerifySession(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("source calls = %d after max age, want 2", n)
	}
}

func TestVerifierUnknownKidRateLimited(t *testing.T) {
	k1, k2, bogus := mustKey(t), mustKey(t), mustKey(t)
	src := &fakeSource{maxAge: 3600}
	src.set(nil, k1)
	clk := &clock{now: time.Now()}
	v := newTestVerifier(t, src, clk)
	tok1, _ := Sign(k1, sessionClaims(clk.Now()))
	if _, err := v.VerifySession(t.Context(), tok1); err != nil {
		t.Fatal(err)
	}
	// Keys rotate: a token from the new key triggers one refetch, once
	// the rate limit allows it.
	src.set(nil, k1, k2)
	clk.Add(31 * time.Second)
	tok2, _ := Sign(k2, sessionClaims(clk.Now()))
	if _, err := v.VerifySession(t.Context(), tok2); err != nil {
		t.Fatalf("token from the rotated-in key: %v", err)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
	// A flood of made-up kids costs at most one fetch per interval.
	forged, _ := Sign(bogus, sessionClaims(clk.Now()))
	for range 100 {
		if _, err := v.VerifySession(t.Context(), forged); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("forged token: err = %v, want ErrUnknownKey", err)
		}
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("calls = %d after a flood within the interval, want 2", n)
	}
	clk.Add(31 * time.Second)
	for range 100 {
		_, _ = v.VerifySession(t.Context(), forged)
	}
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("calls = %d after the next interval, want 3", n)
	}
}

func TestVerifierSourceDown(t *testing.T) {
	k := mustKey(t)
	src := &fakeSource{maxAge: 60}
	src.set(errors.New("auth down"))
	clk := &clock{now: time.Now()}
	v := newTestVerifier(t, src, clk)
	tok, _ := Sign(k, sessionClaims(clk.Now()))
	if _, err := v.VerifySession(t.Context(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("no keys yet: err = %v, want ErrKeysUnavailable", err)
	}
	for range 10 {
		_, _ = v.VerifySession(t.Context(), tok)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("calls while down = %d, want 1 (rate limited)", n)
	}
	src.set(nil, k)
	clk.Add(31 * time.Second)
	if _, err := v.VerifySession(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	// The set goes stale while auth is down again: keep using it.
	src.set(errors.New("auth down"))
	clk.Add(2 * time.Minute)
	tok, _ = Sign(k, sessionClaims(clk.Now()))
	if _, err := v.VerifySession(t.Context(), tok); err != nil {
		t.Fatalf("stale keys while the source is down: %v", err)
	}
}

func TestVerifierPlayback(t *testing.T) {
	k := mustKey(t)
	src := &fakeSource{maxAge: 60}
	src.set(nil, k)
	clk := &clock{now: time.Now()}
	v := newTestVerifier(t, src, clk)
	p, _ := Sign(k, playbackClaims(clk.Now()))
	if c, err := v.VerifyPlayback(t.Context(), p, "vid_1"); err != nil || c.Address != testAddr {
		t.Fatalf("VerifyPlayback = %+v, %v", c, err)
	}
	if _, err := v.VerifyPlayback(t.Context(), p, "vid_2"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("other video: err = %v", err)
	}
	s, _ := Sign(k, sessionClaims(clk.Now()))
	if _, err := v.VerifyPlayback(t.Context(), s, "vid_1"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("session token as playback: err = %v", err)
	}
	if _, err := v.VerifySession(t.Context(), p); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("playback token as session: err = %v", err)
	}
}
