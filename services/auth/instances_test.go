package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
)

// TestTwoInstances runs two auth services on one PostgreSQL database, as
// several instances behind the gateway do: a client may reach either.
func TestTwoInstances(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	clk := &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	shared := func(c *Config) {
		c.DatabaseURL = url
		c.Now = clk.Now
		c.KeyRotation = time.Hour
		c.JWKSMaxAge = time.Minute // the successor is published 2 minutes ahead
	}
	a, b := newEnv(t, shared), newEnv(t, shared)
	ctx := t.Context()
	w := newWallet(t)

	jwks := func(e *env) string {
		t.Helper()
		res, err := e.client.GetSigningKeys(ctx, connect.NewRequest(&authv1.GetSigningKeysRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(kids(res.Msg.GetKeys()))
	}
	sameJWKS := func(when string, want int) {
		t.Helper()
		ja, jb := jwks(a), jwks(b)
		if ja != jb {
			t.Fatalf("%s: JWKS differ: A %s, B %s", when, ja, jb)
		}
		if ka, _ := a.svc.keys.signer(); ka.ID != func() string { kb, _ := b.svc.keys.signer(); return kb.ID }() {
			t.Fatalf("%s: the instances sign with different keys", when)
		}
		var n int
		if err := a.svc.store.db.QueryRowContext(ctx, `SELECT count(*) FROM signing_keys`).Scan(&n); err != nil || n != want {
			t.Fatalf("%s: %d stored keys (%v), want %d; JWKS %s", when, n, err, want, ja)
		}
	}
	// ensureBoth runs both key loops at once, as their timers fire at the
	// same computed instant.
	ensureBoth := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range []*env{a, b} {
			wg.Go(func() { _, errs[i] = e.svc.keys.ensure(ctx) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	sameJWKS("after start", 1)

	t.Run("refresh on B spends the token for A", func(t *testing.T) {
		in := a.login(w)
		res, err := b.client.RefreshSession(ctx, connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: in.GetRefreshToken()}))
		if err != nil {
			t.Fatalf("refresh on B: %v", err)
		}
		if _, err := a.client.GetSession(ctx, withBearer(&authv1.GetSessionRequest{}, res.Msg.GetAccessToken())); err != nil {
			t.Fatalf("B's access token on A: %v", err)
		}
		_, err = a.client.RefreshSession(ctx, connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: in.GetRefreshToken()}))
		wantCode(t, err, connect.CodeUnauthenticated)
		// The reuse revoked the session everywhere.
		_, err = a.client.GetSession(ctx, withBearer(&authv1.GetSessionRequest{}, res.Msg.GetAccessToken()))
		wantCode(t, err, connect.CodeUnauthenticated)
	})

	t.Run("a nonce is consumed once across instances", func(t *testing.T) {
		msg := a.challenge(w.addr).String()
		sig := w.sign(t, msg)
		errs := make([]error, 6)
		var wg sync.WaitGroup
		for i := range errs {
			e := []*env{a, b}[i%2]
			wg.Go(func() { _, errs[i] = e.signIn(msg, sig) })
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("err = %v, want Unauthenticated", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d sign-ins with one nonce on two instances, want 1 (%v)", wins, errs)
		}
	})

	t.Run("a session revoked on B is refused by A", func(t *testing.T) {
		in := a.login(w)
		if _, err := b.client.SignOut(ctx, withBearer(&authv1.SignOutRequest{}, in.GetAccessToken())); err != nil {
			t.Fatalf("sign out on B: %v", err)
		}
		_, err := a.client.GetSession(ctx, withBearer(&authv1.GetSessionRequest{}, in.GetAccessToken()))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = a.client.RefreshSession(ctx, connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: in.GetRefreshToken()}))
		wantCode(t, err, connect.CodeUnauthenticated)
	})

	t.Run("one rotation, the same JWKS", func(t *testing.T) {
		// The successor is due: both try to publish it, one does.
		clk.Add(58 * time.Minute)
		ensureBoth()
		sameJWKS("successor published", 2)
		// It takes over; a token signed by A verifies on B.
		clk.Add(2*time.Minute + time.Second)
		ensureBoth()
		sameJWKS("successor active", 2)
		in := a.login(w)
		if _, err := b.client.GetSession(ctx, withBearer(&authv1.GetSessionRequest{}, in.GetAccessToken())); err != nil {
			t.Fatalf("A's token on B after the rotation: %v", err)
		}
		// Both down through a rotation: both find the key overdue and
		// replace it at once; one wins. The retired keys are pruned.
		clk.Add(3 * time.Hour)
		ensureBoth()
		sameJWKS("overdue rotation", 2)
		clk.Add(time.Hour)
		ensureBoth()
		sameJWKS("an hour later", 2)
	})
}

// TestInstanceClockBehind: an instance whose clock is behind the one that
// created the first key starts (it does not add a rival first key) and
// signs with that key once its clock reaches the activation.
func TestInstanceClockBehind(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ahead, behind := &clock{now: t0}, &clock{now: t0.Add(-2 * time.Second)}
	a := newEnv(t, func(c *Config) { c.DatabaseURL = url; c.Now = ahead.Now })
	b := newEnv(t, func(c *Config) { c.DatabaseURL = url; c.Now = behind.Now })
	if _, ok := b.svc.keys.signer(); ok {
		t.Fatal("B signs with a key not yet active on its clock")
	}
	next, err := b.svc.keys.ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := a.svc.keys.signer()
	if !next.Equal(t0) {
		t.Errorf("B wakes at %v, want the key's activation %v", next, t0)
	}
	behind.Add(2 * time.Second)
	if kb, ok := b.svc.keys.signer(); !ok || kb.ID != ka.ID {
		t.Fatalf("B signs with %q (%v), want A's key %q", kb.ID, ok, ka.ID)
	}
}
