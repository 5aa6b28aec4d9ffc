package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events/eventstest"
)

// revokedFeed connects e's service to a real bus and returns the
// session.revoked events it publishes.
func revokedFeed(t *testing.T, e *env) <-chan *eventsv1.SessionRevoked {
	t.Helper()
	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.SessionRevoked](t, bus, "test-sessions")
	e.svc.publisher = bus
	return got
}

func nextRevoked(t *testing.T, got <-chan *eventsv1.SessionRevoked) *eventsv1.SessionRevoked {
	t.Helper()
	select {
	case ev := <-got:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no session.revoked event within 10s")
		return nil
	}
}

func TestSessionRevokedPublished(t *testing.T) {
	e := newEnv(t)
	got := revokedFeed(t, e)
	w := newWallet(t)
	// Access tokens live 15m, playback tokens 10m, verifiers allow 30s.
	const validFor = 15*time.Minute + 30*time.Second

	t.Run("sign out", func(t *testing.T) {
		in := e.login(w)
		now := e.clock.Now()
		if _, err := e.client.SignOut(t.Context(), withBearer(&authv1.SignOutRequest{}, in.GetAccessToken())); err != nil {
			t.Fatal(err)
		}
		sid := in.GetSession().GetId()
		want := &eventsv1.SessionRevoked{
			EventId:   "session.revoked:" + sid,
			SessionId: sid,
			Address:   w.addr.Hex(),
			Reason:    eventsv1.SessionRevokedReason_SESSION_REVOKED_REASON_SIGN_OUT,
		}
		ev := nextRevoked(t, got)
		if !ev.GetOccurTime().AsTime().Equal(now) || !ev.GetExpireTime().AsTime().Equal(now.Add(validFor)) {
			t.Errorf("occur %v, expire %v; want %v, %v", ev.GetOccurTime().AsTime(), ev.GetExpireTime().AsTime(), now, now.Add(validFor))
		}
		ev.OccurTime, ev.ExpireTime = nil, nil
		if !proto.Equal(ev, want) {
			t.Errorf("event = %v, want %v", ev, want)
		}
	})

	t.Run("refresh token reuse", func(t *testing.T) {
		in := e.login(w)
		e.clock.Add(time.Minute)
		if _, err := e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: in.GetRefreshToken()})); err != nil {
			t.Fatal(err)
		}
		// A plain refresh revokes nothing (an event for it would arrive
		// first and fail the check below); the replay of the spent token
		// does.
		_, err := e.client.RefreshSession(t.Context(), connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: in.GetRefreshToken()}))
		wantCode(t, err, connect.CodeUnauthenticated)
		ev := nextRevoked(t, got)
		if ev.GetSessionId() != in.GetSession().GetId() || ev.GetReason() != eventsv1.SessionRevokedReason_SESSION_REVOKED_REASON_REFRESH_REUSE || ev.GetAddress() != w.addr.Hex() {
			t.Errorf("event = %v, want session %s revoked for refresh reuse", ev, in.GetSession().GetId())
		}
		if want := e.clock.Now().Add(validFor); !ev.GetExpireTime().AsTime().Equal(want) {
			t.Errorf("expire = %v, want %v", ev.GetExpireTime().AsTime(), want)
		}
	})

}

type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, proto.Message) error {
	return errors.New("nats down")
}

// The store is the truth: a revocation that cannot be announced still
// happens, and SignOut succeeds.
func TestSignOutPublishFailureStillRevokes(t *testing.T) {
	e := newEnv(t)
	e.svc.publisher = failingPublisher{}
	in := e.login(newWallet(t))
	if _, err := e.client.SignOut(t.Context(), withBearer(&authv1.SignOutRequest{}, in.GetAccessToken())); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	_, err := e.client.GetSession(t.Context(), withBearer(&authv1.GetSessionRequest{}, in.GetAccessToken()))
	wantCode(t, err, connect.CodeUnauthenticated)
}
