package auth

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/identity"
)

func TestRefreshSession(t *testing.T) {
	e := newEnv(t)
	w := newWallet(t)
	first := e.login(w)
	e.clock.Add(10 * time.Minute)

	res, err := e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: first.GetRefreshToken()}))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Msg
	if got.GetSession().GetId() != first.GetSession().GetId() || got.GetRefreshToken() == first.GetRefreshToken() || got.GetAccessToken() == first.GetAccessToken() {
		t.Fatalf("refresh = %v", got)
	}
	if want := e.clock.Now().Add(24 * time.Hour); !got.GetSession().GetExpireTime().AsTime().Equal(want) {
		t.Errorf("session expire = %v, want %v", got.GetSession().GetExpireTime().AsTime(), want)
	}

	// Single use: the spent token is refused, and presenting it again
	// revokes the session (the token leaked), so its successor dies too.
	_, err = e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: first.GetRefreshToken()}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: got.GetRefreshToken()}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = e.client.GetSession(t.Context(), withBearer(&authv1.GetSessionRequest{}, got.GetAccessToken()))
	wantCode(t, err, connect.CodeUnauthenticated)

	for name, tok := range map[string]string{"empty": "", "garbage": "rt_nope", "access token": first.GetAccessToken()} {
		t.Run(name, func(t *testing.T) {
			_, err := e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: tok}))
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
}

func TestRefreshCappedAtMaxLifetime(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSessionLifetime = 36 * time.Hour })
	w := newWallet(t)
	tok := e.login(w).GetRefreshToken()
	start := e.clock.Now()
	for i := range 3 {
		e.clock.Add(15 * time.Hour)
		res, err := e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: tok}))
		if i == 2 {
			// 45h after sign-in: past the 36h maximum.
			wantCode(t, err, connect.CodeUnauthenticated)
			return
		}
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if exp := res.Msg.GetSession().GetExpireTime().AsTime(); exp.After(start.Add(36 * time.Hour)) {
			t.Fatalf("session extended to %v, past the maximum", exp)
		}
		if exp := res.Msg.GetAccessTokenExpireTime().AsTime(); exp.After(res.Msg.GetSession().GetExpireTime().AsTime()) {
			t.Fatalf("access token outlives its session")
		}
		tok = res.Msg.GetRefreshToken()
	}
}

func TestGetSessionAndSignOut(t *testing.T) {
	e := newEnv(t)
	w := newWallet(t)
	in := e.login(w)

	t.Run("bearer", func(t *testing.T) {
		res, err := e.client.GetSession(t.Context(), withBearer(&authv1.GetSessionRequest{}, in.GetAccessToken()))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.GetSession().GetId() != in.GetSession().GetId() || res.Msg.GetSession().GetAddress() != w.addr.Hex() {
			t.Errorf("session = %v", res.Msg.GetSession())
		}
	})
	t.Run("forwarded identity", func(t *testing.T) {
		req := connect.NewRequest(&authv1.GetSessionRequest{})
		req.Header().Set(identity.AddressHeader, w.addr.Hex())
		req.Header().Set(identity.SessionHeader, in.GetSession().GetId())
		if _, err := e.client.GetSession(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		req.Header().Set(identity.AddressHeader, newWallet(t).addr.Hex())
		_, err := e.client.GetSession(t.Context(), req)
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("anonymous", func(t *testing.T) {
		_, err := e.client.GetSession(t.Context(), connect.NewRequest(&authv1.GetSessionRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("playback token is not a session token", func(t *testing.T) {
		e.videos.videos["vid_pub"] = readyVideo("vid_pub", nil)
		pt, err := e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_pub"}, in.GetAccessToken()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.GetSession(t.Context(), withBearer(&authv1.GetSessionRequest{}, pt.Msg.GetToken()))
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("forged token", func(t *testing.T) {
		parts := strings.Split(in.GetAccessToken(), ".")
		_, err := e.client.GetSession(t.Context(), withBearer(&authv1.GetSessionRequest{}, parts[0]+"."+parts[1]+".AAAA"))
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	t.Run("sign out", func(t *testing.T) {
		if _, err := e.client.SignOut(t.Context(), withBearer(&authv1.SignOutRequest{}, in.GetAccessToken())); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.GetSession(t.Context(), withBearer(&authv1.GetSessionRequest{}, in.GetAccessToken()))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: in.GetRefreshToken()}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_pub"}, in.GetAccessToken()))
		wantCode(t, err, connect.CodeUnauthenticated)
		// Idempotent.
		if _, err := e.client.SignOut(t.Context(), withBearer(&authv1.SignOutRequest{}, in.GetAccessToken())); err != nil {
			t.Fatalf("second sign-out: %v", err)
		}
	})
	t.Run("expired session", func(t *testing.T) {
		in := e.login(w)
		e.clock.Add(25 * time.Hour)
		req := connect.NewRequest(&authv1.GetSessionRequest{})
		req.Header().Set(identity.SessionHeader, in.GetSession().GetId())
		_, err := e.client.GetSession(t.Context(), req)
		wantCode(t, err, connect.CodeUnauthenticated)
	})
}
